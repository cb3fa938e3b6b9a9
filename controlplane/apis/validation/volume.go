package validation

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// volumes validates a PodSpec's volumes and returns the valid ones by name,
// for volume mounts to refer to. podMeta is set for real pods only.
func volumes(list []corev1.Volume, podMeta *metav1.ObjectMeta, fld *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	createdPVCs := sets.New[string]()
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range list {
			if v.Ephemeral != nil {
				createdPVCs.Insert(podMeta.Name + "-" + v.Name)
			}
		}
	}
	valid := make(map[string]corev1.VolumeSource)
	for i, v := range list {
		p := fld.Index(i)
		el := volumeSource(&v.VolumeSource, v.Name, podMeta, p)
		if v.Name == "" {
			el = append(el, field.Required(p.Child("name"), ""))
		} else {
			el = append(el, dns1123Label(v.Name, p.Child("name"))...)
		}
		if names.Has(v.Name) {
			el = append(el, field.Duplicate(p.Child("name"), v.Name))
		}
		if len(el) == 0 {
			names.Insert(v.Name)
			valid[v.Name] = v.VolumeSource
		} else {
			errs = append(errs, el...)
		}
		if v.PersistentVolumeClaim != nil && createdPVCs.Has(v.PersistentVolumeClaim.ClaimName) {
			errs = append(errs, field.Invalid(p.Child("persistentVolumeClaim", "claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return valid, errs
}

// volumeSourceKind is one member of the VolumeSource union: its field name
// for "more than one type" errors, and the checks of its contents.
type volumeSourceKind struct {
	name  string
	set   func(*corev1.VolumeSource) bool
	check func(*corev1.VolumeSource, *field.Path) field.ErrorList
}

// volumeSourceKinds lists the members in the order Kubernetes checks them.
// The legacy in-tree cloud and network volume types are counted but their
// contents are not validated: skiff has no driver for them.
var volumeSourceKinds = []volumeSourceKind{
	{"emptyDir", func(s *corev1.VolumeSource) bool { return s.EmptyDir != nil }, emptyDirSource},
	{"hostPath", func(s *corev1.VolumeSource) bool { return s.HostPath != nil }, hostPathSource},
	{"gitRepo", func(s *corev1.VolumeSource) bool { return s.GitRepo != nil }, gitRepoSource},
	{"gcePersistentDisk", func(s *corev1.VolumeSource) bool { return s.GCEPersistentDisk != nil }, nil},
	{"awsElasticBlockStore", func(s *corev1.VolumeSource) bool { return s.AWSElasticBlockStore != nil }, nil},
	{"secret", func(s *corev1.VolumeSource) bool { return s.Secret != nil }, secretSource},
	{"nfs", func(s *corev1.VolumeSource) bool { return s.NFS != nil }, nfsSource},
	{"iscsi", func(s *corev1.VolumeSource) bool { return s.ISCSI != nil }, nil},
	{"glusterfs", func(s *corev1.VolumeSource) bool { return s.Glusterfs != nil }, nil},
	{"flocker", func(s *corev1.VolumeSource) bool { return s.Flocker != nil }, nil},
	{"persistentVolumeClaim", func(s *corev1.VolumeSource) bool { return s.PersistentVolumeClaim != nil }, pvcSource},
	{"rbd", func(s *corev1.VolumeSource) bool { return s.RBD != nil }, nil},
	{"cinder", func(s *corev1.VolumeSource) bool { return s.Cinder != nil }, nil},
	{"cephFS", func(s *corev1.VolumeSource) bool { return s.CephFS != nil }, nil},
	{"quobyte", func(s *corev1.VolumeSource) bool { return s.Quobyte != nil }, nil},
	// Kubernetes misspells this one in its "more than 1 volume type" error.
	{"downwarAPI", func(s *corev1.VolumeSource) bool { return s.DownwardAPI != nil }, downwardAPISource},
	{"fc", func(s *corev1.VolumeSource) bool { return s.FC != nil }, nil},
	{"flexVolume", func(s *corev1.VolumeSource) bool { return s.FlexVolume != nil }, nil},
	{"configMap", func(s *corev1.VolumeSource) bool { return s.ConfigMap != nil }, configMapSource},
	{"azureFile", func(s *corev1.VolumeSource) bool { return s.AzureFile != nil }, nil},
	{"vsphereVolume", func(s *corev1.VolumeSource) bool { return s.VsphereVolume != nil }, nil},
	{"photonPersistentDisk", func(s *corev1.VolumeSource) bool { return s.PhotonPersistentDisk != nil }, nil},
	{"portworxVolume", func(s *corev1.VolumeSource) bool { return s.PortworxVolume != nil }, nil},
	{"azureDisk", func(s *corev1.VolumeSource) bool { return s.AzureDisk != nil }, nil},
	{"storageos", func(s *corev1.VolumeSource) bool { return s.StorageOS != nil }, nil},
	{"projected", func(s *corev1.VolumeSource) bool { return s.Projected != nil }, projectedSource},
	{"scaleIO", func(s *corev1.VolumeSource) bool { return s.ScaleIO != nil }, nil},
	{"csi", func(s *corev1.VolumeSource) bool { return s.CSI != nil }, csiSource},
	{"ephemeral", func(s *corev1.VolumeSource) bool { return s.Ephemeral != nil }, ephemeralSource},
	{"image", func(s *corev1.VolumeSource) bool { return s.Image != nil }, imageSource},
}

// volumeSource requires exactly one source and validates it.
func volumeSource(src *corev1.VolumeSource, volName string, podMeta *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, k := range volumeSourceKinds {
		if !k.set(src) {
			continue
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fld.Child(k.name), "may not specify more than 1 volume type"))
			continue
		}
		n++
		if k.check != nil {
			errs = append(errs, k.check(src, fld)...)
		}
	}
	if n == 0 {
		return append(errs, field.Required(fld, "must specify a volume type"))
	}
	// A generic ephemeral volume creates the PVC "<pod>-<volume>".
	if src.Ephemeral != nil && podMeta != nil && podMeta.Name != "" && volName != "" {
		pvcName := podMeta.Name + "-" + volName
		for _, msg := range nameIsDNSSubdomain(pvcName, false) {
			errs = append(errs, field.Invalid(fld.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
		}
	}
	return errs
}

func emptyDirSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	if l := s.EmptyDir.SizeLimit; l != nil && l.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Forbidden(fld.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity")}
	}
	return nil
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev)

func hostPathSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	hp, p := s.HostPath, fld.Child("hostPath")
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := noBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), hp.Type, sets.List(supportedHostPathTypes)))
	}
	return errs
}

func gitRepoSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("gitRepo")
	var errs field.ErrorList
	if s.GitRepo.Repository == "" {
		errs = append(errs, field.Required(p.Child("repository"), ""))
	}
	return append(errs, localDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
}

func secretSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("secret")
	var errs field.ErrorList
	if s.Secret.SecretName == "" {
		errs = append(errs, field.Required(p.Child("secretName"), ""))
	}
	errs = append(errs, fileMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
	for i := range s.Secret.Items {
		errs = append(errs, keyToPath(&s.Secret.Items[i], p.Child("items").Index(i))...)
	}
	return errs
}

func configMapSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("configMap")
	var errs field.ErrorList
	if s.ConfigMap.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	errs = append(errs, fileMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
	for i := range s.ConfigMap.Items {
		errs = append(errs, keyToPath(&s.ConfigMap.Items[i], p.Child("items").Index(i))...)
	}
	return errs
}

func fileMode(mode *int32, fld *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fld, *mode, fileModeErrorMsg)}
	}
	return nil
}

func keyToPath(kp *corev1.KeyToPath, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(fld.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, localNonReservedPath(kp.Path, fld.Child("path"))...)
	return append(errs, fileMode(kp.Mode, fld.Child("mode"))...)
}

func nfsSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("nfs")
	var errs field.ErrorList
	if s.NFS.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if s.NFS.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	if !path.IsAbs(s.NFS.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
	}
	return errs
}

func pvcSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	if s.PersistentVolumeClaim.ClaimName == "" {
		return field.ErrorList{field.Required(fld.Child("persistentVolumeClaim", "claimName"), "")}
	}
	return nil
}

func downwardAPISource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("downwardAPI")
	errs := fileMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
	for i := range s.DownwardAPI.Items {
		// Kubernetes reports item errors on the source's path.
		errs = append(errs, downwardAPIFile(&s.DownwardAPI.Items[i], p)...)
	}
	return errs
}

func downwardAPIFile(f *corev1.DownwardAPIVolumeFile, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, localNonReservedPath(f.Path, fld.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, fieldSelector(f.FieldRef, volumeDownwardAPIFields, fld.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fld, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, resourceFieldSelector(f.ResourceFieldRef, true, fld.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fld, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, fileMode(f.Mode, fld.Child("mode"))...)
}

func projectedSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	proj, p := s.Projected, fld.Child("projected")
	errs := fileMode(proj.DefaultMode, p.Child("defaultMode"))
	paths := sets.New[string]()
	claimPath := func(item, value string) {
		if paths.Has(item) {
			errs = append(errs, field.Invalid(p, value, "conflicting duplicate paths"))
		}
		paths.Insert(item)
	}
	for i, src := range proj.Sources {
		n := 0
		sp := p.Child("sources").Index(i)
		if src.Secret != nil {
			n++
			if src.Secret.Name == "" {
				errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
			}
			for j := range src.Secret.Items {
				kp := &src.Secret.Items[j]
				errs = append(errs, keyToPath(kp, sp.Child("secret", "items").Index(j))...)
				if kp.Path != "" {
					claimPath(kp.Path, src.Secret.Name)
				}
			}
		}
		if src.ConfigMap != nil {
			n++
			if src.ConfigMap.Name == "" {
				errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
			}
			for j := range src.ConfigMap.Items {
				kp := &src.ConfigMap.Items[j]
				errs = append(errs, keyToPath(kp, sp.Child("configMap", "items").Index(j))...)
				if kp.Path != "" {
					claimPath(kp.Path, src.ConfigMap.Name)
				}
			}
		}
		if src.DownwardAPI != nil {
			n++
			for j := range src.DownwardAPI.Items {
				f := &src.DownwardAPI.Items[j]
				errs = append(errs, downwardAPIFile(f, sp.Child("downwardAPI"))...)
				if f.Path != "" {
					claimPath(f.Path, f.Path)
				}
			}
		}
		if t := src.ServiceAccountToken; t != nil {
			n++
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, localNonReservedPath(t.Path, p.Child("path"))...)
			}
		}
		if src.ClusterTrustBundle != nil {
			n++
		}
		if src.PodCertificate != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type"))
		}
	}
	return errs
}

func csiSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("csi")
	d := s.CSI.Driver
	var errs field.ErrorList
	if d == "" {
		errs = append(errs, field.Required(p.Child("driver"), ""))
	}
	if len(d) > 63 {
		errs = append(errs, field.TooLong(p.Child("driver"), d, 63))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(d)) {
		errs = append(errs, field.Invalid(p.Child("driver"), d, msg))
	}
	if ref := s.CSI.NodePublishSecretRef; ref != nil {
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
		} else {
			errs = append(errs, validName(ref.Name, nameIsDNSSubdomain, p.Child("name"))...)
		}
	}
	return errs
}

func ephemeralSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("ephemeral")
	t := s.Ephemeral.VolumeClaimTemplate
	if t == nil {
		return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
	}
	tp := p.Child("volumeClaimTemplate")
	errs := templateObjectMeta(&t.ObjectMeta, tp.Child("metadata"))
	return append(errs, claimSpec(&t.Spec, tp.Child("spec"))...)
}

func imageSource(s *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("image")
	var errs field.ErrorList
	if s.Image.Reference == "" {
		errs = append(errs, field.Required(p.Child("reference"), ""))
	}
	return append(errs, pullPolicy(s.Image.PullPolicy, p.Child("pullPolicy"))...)
}

var (
	supportedAccessModes = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)
	supportedVolumeModes = sets.New(corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)
)

// claimSpec validates a PersistentVolumeClaimSpec (in claim templates).
func claimSpec(spec *corev1.PersistentVolumeClaimSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(fld.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		errs = append(errs, strictSelector(spec.Selector, fld.Child("selector"))...)
	}
	rwop, other := false, false
	for _, mode := range spec.AccessModes {
		if !supportedAccessModes.Has(mode) {
			errs = append(errs, field.NotSupported(fld.Child("accessModes"), mode, sets.List(supportedAccessModes)))
		}
		if mode == corev1.ReadWriteOncePod {
			rwop = true
		} else if supportedAccessModes.Has(mode) {
			other = true
		}
	}
	if rwop && other {
		errs = append(errs, field.Forbidden(fld.Child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
	}
	storagePath := fld.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if e := positiveQuantity(q, storagePath); len(e) > 0 {
		errs = append(errs, e...)
	} else {
		errs = append(errs, resourceQuantity(corev1.ResourceStorage, q, storagePath)...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, validName(*spec.StorageClassName, nameIsDNSSubdomain, fld.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !supportedVolumeModes.Has(*spec.VolumeMode) {
		errs = append(errs, field.NotSupported(fld.Child("volumeMode"), *spec.VolumeMode, sets.List(supportedVolumeModes)))
	}
	return errs
}

// noBacksteps rejects paths with a ".." element.
func noBacksteps(target string, fld *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(target), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fld, target, "must not contain '..'")}
		}
	}
	return nil
}

// localDescendingPath requires a relative path without "..".
func localDescendingPath(target string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fld, target, "must be a relative path"))
	}
	return append(errs, noBacksteps(target, fld)...)
}

// localNonReservedPath is localDescendingPath that may also not start with "..".
func localNonReservedPath(target string, fld *field.Path) field.ErrorList {
	errs := localDescendingPath(target, fld)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(fld, target, "must not start with '..'"))
	}
	return errs
}
