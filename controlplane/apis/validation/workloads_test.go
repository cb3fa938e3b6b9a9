package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis/defaults"
)

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
}

var webLabels = map[string]string{"app": "web"}

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1"}
}

func validDeployment() *appsv1.Deployment {
	return defaulted(&appsv1.Deployment{
		ObjectMeta: objMeta("web"),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: template(webLabels),
		},
	})
}

func TestDeploymentCreate(t *testing.T) {
	runCreate(t, validDeployment, []createCase[*appsv1.Deployment]{
		{name: "valid"},
		{name: "Recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "bad name", mutate: func(d *appsv1.Deployment) { d.Name = "Web" }, want: []want{invalid("metadata.name")}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, want: []want{invalid("spec.replicas")}},
		{name: "no selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want: []want{required("spec.selector"), invalid("spec.template.metadata.labels")}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "selector not matching template", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} },
			want: []want{invalid("spec.template.metadata.labels")}},
		{name: "template container without image", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			want: []want{required("spec.template.spec.containers[0].image")}},
		{name: "template restartPolicy Never", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []want{notSupported("spec.template.spec.restartPolicy")}},
		{name: "template activeDeadlineSeconds", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) },
			want: []want{forbidden("spec.template.spec.activeDeadlineSeconds")}},
		{name: "maxSurge and maxUnavailable both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("0%"))
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "maxUnavailable above 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "maxSurge not a percent", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("half"))
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "negative maxSurge", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-1))
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "rollingUpdate with Recreate", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want: []want{forbidden("spec.strategy.rollingUpdate")}},
		{name: "unknown strategy", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, want: []want{notSupported("spec.strategy")}},
		{name: "progress deadline not above minReadySeconds", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, want: []want{invalid("spec.progressDeadlineSeconds")}},
		{name: "negative revisionHistoryLimit", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			want: []want{invalid("spec.revisionHistoryLimit")}},
	})
}

func TestDeploymentUpdate(t *testing.T) {
	runUpdate(t, validDeployment, false, []updateCase[*appsv1.Deployment]{
		{name: "scale and new image", mutate: func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](5)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}},
		{name: "selector immutable", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "web", "tier": "fe"}
			d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "fe"}
		}, want: []want{invalid("spec.selector")}},
	})
}

func TestDeploymentStatusUpdate(t *testing.T) {
	runUpdate(t, validDeployment, true, []updateCase[*appsv1.Deployment]{
		{name: "progress", mutate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}
		}},
		{name: "more ready than replicas", mutate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2}
		}, want: []want{invalid("status.readyReplicas")}},
		{name: "collisionCount decremented", old: func(d *appsv1.Deployment) { d.Status.CollisionCount = ptr.To[int32](2) },
			mutate: func(d *appsv1.Deployment) { d.Status.CollisionCount = ptr.To[int32](1) }, want: []want{invalid("status.collisionCount")}},
	})
}

func validReplicaSet() *appsv1.ReplicaSet {
	return defaulted(&appsv1.ReplicaSet{
		ObjectMeta: objMeta("web-abc"),
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: webLabels}, Template: template(webLabels)},
	})
}

func TestReplicaSet(t *testing.T) {
	runCreate(t, validReplicaSet, []createCase[*appsv1.ReplicaSet]{
		{name: "valid"},
		{name: "selector expression", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}}
		}},
		{name: "bad selector operator", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"web"}}}}
		}, want: []want{invalid("spec.selector.matchExpressions[0].operator"), invalid("spec.selector")}},
		{name: "negative minReadySeconds", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, want: []want{invalid("spec.minReadySeconds")}},
		{name: "template mismatch", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = nil }, want: []want{invalid("spec.template.metadata.labels")}},
	})
	runUpdate(t, validReplicaSet, false, []updateCase[*appsv1.ReplicaSet]{
		{name: "scale", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](0) }},
		{name: "selector immutable", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
			rs.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, want: []want{invalid("spec.selector")}},
	})
	runUpdate(t, validReplicaSet, true, []updateCase[*appsv1.ReplicaSet]{
		{name: "counts", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Status = appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}
		}},
		{name: "available above ready", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Status = appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2}
		}, want: []want{invalid("status.availableReplicas")}},
		{name: "negative replicas", mutate: func(rs *appsv1.ReplicaSet) { rs.Status.Replicas = -1 },
			want: []want{invalid("status.replicas"), invalid("status.fullyLabeledReplicas"), invalid("status.readyReplicas"), invalid("status.availableReplicas")}},
	})
}

func validReplicationController() *corev1.ReplicationController {
	t := template(webLabels)
	return defaulted(&corev1.ReplicationController{ObjectMeta: objMeta("web"), Spec: corev1.ReplicationControllerSpec{Template: &t}})
}

func TestReplicationController(t *testing.T) {
	runCreate(t, validReplicationController, []createCase[*corev1.ReplicationController]{
		{name: "valid (selector defaulted from template)"},
		{name: "no template", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }, want: []want{required("spec.template")}},
		{name: "empty selector", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "selector mismatch", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "api"} },
			want: []want{invalid("spec.template.metadata.labels")}},
		{name: "negative replicas", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To[int32](-2) }, want: []want{invalid("spec.replicas")}},
		{name: "OnFailure template", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		},
			want: []want{notSupported("spec.template.spec.restartPolicy")}},
	})
	runUpdate(t, validReplicationController, true, []updateCase[*corev1.ReplicationController]{
		{name: "fully labeled above replicas", mutate: func(rc *corev1.ReplicationController) {
			rc.Status = corev1.ReplicationControllerStatus{Replicas: 1, FullyLabeledReplicas: 2}
		}, want: []want{invalid("status.fullyLabeledReplicas")}},
	})
}

func validDaemonSet() *appsv1.DaemonSet {
	return defaulted(&appsv1.DaemonSet{
		ObjectMeta: objMeta("agent"),
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: webLabels}, Template: template(webLabels)},
	})
}

func TestDaemonSet(t *testing.T) {
	runCreate(t, validDaemonSet, []createCase[*appsv1.DaemonSet]{
		{name: "valid"},
		{name: "surge instead of unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("10%"))
		}},
		{name: "both zero", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, want: []want{required("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "both non-zero", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{name: "unknown strategy", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Fast" }, want: []want{notSupported("spec.updateStrategy")}},
		{name: "empty selector", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "selector mismatch", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = map[string]string{"x": "y"} },
			want: []want{invalid("spec.template.metadata.labels")}},
		{name: "template duplicate volume", mutate: func(ds *appsv1.DaemonSet) {
			v := corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			ds.Spec.Template.Spec.Volumes = []corev1.Volume{v, v}
		}, want: []want{duplicate("spec.template.spec.volumes[1].name")}},
	})
	runUpdate(t, validDaemonSet, false, []updateCase[*appsv1.DaemonSet]{
		{name: "selector immutable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
			ds.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, want: []want{invalid("spec.selector")}},
	})
	runUpdate(t, validDaemonSet, true, []updateCase[*appsv1.DaemonSet]{
		{name: "negative count", mutate: func(ds *appsv1.DaemonSet) { ds.Status.NumberReady = -1 }, want: []want{invalid("status.numberReady")}},
	})
}

func validStatefulSet() *appsv1.StatefulSet {
	t := template(webLabels)
	t.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return defaulted(&appsv1.StatefulSet{
		ObjectMeta: objMeta("db"),
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: webLabels},
			Template:    t,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	})
}

func TestStatefulSet(t *testing.T) {
	runCreate(t, validStatefulSet, []createCase[*appsv1.StatefulSet]{
		{name: "valid (mounts its claim template)"},
		{name: "name must be a DNS label", mutate: func(ss *appsv1.StatefulSet) { ss.Name = "db.v1" }, want: []want{invalid("metadata.name")}},
		{name: "mount of unknown volume", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "logs"
		}, want: []want{notFound("spec.template.spec.containers[0].volumeMounts[0].name")}},
		{name: "claim template without access modes", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
		}, want: []want{required("spec.volumeClaimTemplates[0].spec.accessModes")}},
		{name: "claim template without storage", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil
		}, want: []want{required("spec.volumeClaimTemplates[0].spec.resources[storage]")}},
		{name: "bad pod management policy", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" },
			want: []want{invalid("spec.podManagementPolicy")}},
		{name: "negative partition", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1) },
			want: []want{invalid("spec.updateStrategy.rollingUpdate.partition")}},
		{name: "maxUnavailable zero", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "rollingUpdate with OnDelete", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			want: []want{invalid("spec.updateStrategy.rollingUpdate")}},
		{name: "bad retention policy", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = "Archive"
		}, want: []want{notSupported("spec.persistentVolumeClaimRetentionPolicy.whenDeleted")}},
		{name: "empty selector", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "template Never", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []want{notSupported("spec.template.spec.restartPolicy")}},
	})
	runUpdate(t, validStatefulSet, false, []updateCase[*appsv1.StatefulSet]{
		{name: "replicas, template, strategy, retention and minReadySeconds may change", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Replicas = ptr.To[int32](3)
			ss.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
			ss.Spec.MinReadySeconds = 5
		}},
		{name: "serviceName immutable", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db2" }, want: []want{forbidden("spec")}},
		{name: "podManagementPolicy immutable", mutate: func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement },
			want: []want{forbidden("spec")}},
		{name: "volumeClaimTemplates immutable", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, want: []want{forbidden("spec")}},
		{name: "selector immutable", mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
			ss.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, want: []want{forbidden("spec")}},
		{name: "an already invalid template is tolerated", old: func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].Image = ""
		}, mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](2) }},
	})
	runUpdate(t, validStatefulSet, true, []updateCase[*appsv1.StatefulSet]{
		{name: "current above replicas", mutate: func(ss *appsv1.StatefulSet) {
			ss.Status = appsv1.StatefulSetStatus{Replicas: 1, CurrentReplicas: 2}
		}, want: []want{invalid("status.currentReplicas")}},
	})
}

func validJob() *batchv1.Job {
	t := template(nil)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := defaulted(&batchv1.Job{ObjectMeta: objMeta("pi"), Spec: batchv1.JobSpec{Template: t}})
	j.UID = types.UID("1e0b0ad9-0b5e-4c76-9a4c-0d6b3f0bbf21")
	defaults.GenerateJobSelector(j)
	return j
}

func TestJobCreate(t *testing.T) {
	runCreate(t, validJob, []createCase[*batchv1.Job]{
		{name: "valid"},
		{name: "manual selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job": "pi"}}
			j.Spec.Template.Labels = map[string]string{"job": "pi"}
		}},
		{name: "manual selector not matching", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job": "pi"}}
		}, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "selector not generated", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job": "pi"}}
			j.Spec.Template.Labels["job"] = "pi"
		}, want: []want{invalid("spec.selector")}},
		{name: "generated labels removed", mutate: func(j *batchv1.Job) { delete(j.Spec.Template.Labels, batchv1.JobNameLabel) },
			want: []want{required("spec.template.metadata.labels[batch.kubernetes.io/job-name]")}},
		{name: "no uid", mutate: func(j *batchv1.Job) { j.UID = "" }, want: []want{required("metadata.uid"),
			invalid("spec.template.metadata.labels[controller-uid]"), invalid("spec.template.metadata.labels[batch.kubernetes.io/controller-uid]"),
			invalid("spec.selector")}},
		{name: "restartPolicy Always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			want: []want{required("spec.template.spec.restartPolicy")}},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) }, want: []want{invalid("spec.parallelism")}},
		{name: "negative completions", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](-1) }, want: []want{invalid("spec.completions")}},
		{name: "negative backoffLimit", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) }, want: []want{invalid("spec.backoffLimit")}},
		{name: "negative activeDeadlineSeconds", mutate: func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-5) },
			want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "indexed without completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: []want{required("spec.completions")}},
		{name: "backoffLimitPerIndex needs Indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			want: []want{invalid("spec.backoffLimitPerIndex")}},
		{name: "bad completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sharded") },
			want: []want{notSupported("spec.completionMode")}},
		{name: "pod failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 42}},
			}}}
		}},
		{name: "pod failure policy exit code 0 with In", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}},
			}}}
		}, want: []want{invalid("spec.podFailurePolicy.rules[0].onExitCodes.values[0]")}},
		{name: "podReplacementPolicy with failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}}
		}, want: []want{notSupported("spec.podReplacementPolicy")}},
	})
}

func TestJobUpdate(t *testing.T) {
	runUpdate(t, validJob, false, []updateCase[*batchv1.Job]{
		{name: "parallelism may change", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](3) }},
		{name: "suspend may change", mutate: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }},
		{name: "completions immutable", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](3) }, want: []want{invalid("spec.completions")}},
		{name: "indexed completions scale with parallelism", old: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, mutate: func(j *batchv1.Job) {
			j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](4)
		}},
		{name: "indexed completions without parallelism", old: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](4) }, want: []want{invalid("spec.completions")}},
		{name: "template immutable", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5" },
			want: []want{invalid("spec.template")}},
		{name: "suspended unstarted job may change scheduling directives", old: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) },
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }},
		{name: "selector immutable", mutate: func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["extra"] = "x"
			j.Spec.Template.Labels["extra"] = "x"
		}, want: []want{invalid("spec.selector"), invalid("spec.template")}},
		{name: "completionMode immutable", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) },
			want: []want{invalid("spec.completionMode")}},
	})
}

func TestJobStatusUpdate(t *testing.T) {
	now := metav1.Now()
	cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
	}
	running := func(j *batchv1.Job) { j.Status.StartTime, j.Status.Active = &now, 1 }
	runUpdate(t, validJob, true, []updateCase[*batchv1.Job]{
		{name: "start", mutate: running},
		{name: "complete", old: running, mutate: func(j *batchv1.Job) {
			j.Status.Active, j.Status.Succeeded, j.Status.CompletionTime = 0, 1, &now
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
		}},
		{name: "complete without SuccessCriteriaMet", old: running, mutate: func(j *batchv1.Job) {
			j.Status.Active, j.Status.Succeeded, j.Status.CompletionTime = 0, 1, &now
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobComplete)}
		}, want: []want{invalid("status.conditions")}},
		{name: "complete with active pods", old: running, mutate: func(j *batchv1.Job) {
			j.Status.Succeeded, j.Status.CompletionTime = 1, &now
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
		}, want: []want{invalid("status.active")}},
		{name: "failed without FailureTarget", old: running, mutate: func(j *batchv1.Job) {
			j.Status.Active, j.Status.Failed = 0, 1
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailed)}
		}, want: []want{invalid("status.conditions")}},
		{name: "failed counter may not decrease", old: func(j *batchv1.Job) { running(j); j.Status.Failed = 2 },
			mutate: func(j *batchv1.Job) { j.Status.Failed = 1 }, want: []want{invalid("status.failed")}},
		{name: "ready above active", old: running, mutate: func(j *batchv1.Job) { j.Status.Ready = ptr.To[int32](2) },
			want: []want{invalid("status.ready")}},
		{name: "negative active", mutate: func(j *batchv1.Job) { j.Status.Active = -1 }, want: []want{invalid("status.active")}},
		{name: "duplicate uncounted pod", old: running, mutate: func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}, Failed: []types.UID{"a"}}
		}, want: []want{duplicate("status.uncountedTerminatedPods.failed[0]")}},
	})
}

func TestControllerRevision(t *testing.T) {
	valid := func() *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: objMeta("web-5d4b"), Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1}
	}
	runCreate(t, valid, []createCase[*appsv1.ControllerRevision]{
		{name: "valid"},
		{name: "no data", mutate: func(r *appsv1.ControllerRevision) { r.Data = runtime.RawExtension{} }, want: []want{required("data")}},
		{name: "negative revision", mutate: func(r *appsv1.ControllerRevision) { r.Revision = -1 }, want: []want{invalid("revision")}},
	})
	runUpdate(t, valid, false, []updateCase[*appsv1.ControllerRevision]{
		{name: "revision may change", mutate: func(r *appsv1.ControllerRevision) { r.Revision = 2 }},
		{name: "data immutable", mutate: func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{"spec":{"x":1}}`) }, want: []want{invalid("data")}},
	})
}
