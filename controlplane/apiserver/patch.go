package apiserver

import (
	"context"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/registry"
)

// patchType returns the patch type of the request's Content-Type.
func patchType(r *http.Request) (types.PatchType, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch pt := types.PatchType(mt); pt {
		case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
			return pt, nil
		}
	}
	return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
		fmt.Sprintf("the body of the request was in an unknown format (%q) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json", ct), 0, false)
}

var jsonInfo, _ = runtime.SerializerInfoForMediaType(apis.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)

// toJSON encodes obj as JSON with gv's apiVersion and kind.
func toJSON(obj runtime.Object, gv schema.GroupVersion) ([]byte, error) {
	return runtime.Encode(apis.Codecs.EncoderForVersion(jsonInfo.Serializer, gv), obj)
}

// patchJSON applies a JSON, merge or strategic merge patch to the JSON of
// an object; schema is an object of the patched type (it carries the
// strategic merge keys).
func patchJSON(pt types.PatchType, original, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		out, err := p.Apply(original)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid merge patch: %v", err))
		}
		return out, nil
	case types.StrategicMergePatchType:
		out, err := strategicpatch.StrategicMergePatch(original, patch, schemaObj)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		return out, nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported patch type %q", pt))
}

// decodePatched decodes the JSON result of a patch into a new object of
// obj's kind, reporting unknown fields per the validation level.
func decodePatched(data []byte, gvk schema.GroupVersionKind, into runtime.Object, validation string) (runtime.Object, []string, error) {
	dec := jsonInfo.Serializer
	if validation != metav1.FieldValidationIgnore {
		dec = jsonInfo.StrictSerializer
	}
	obj, actual, err := dec.Decode(data, &gvk, into)
	var warnings []string
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if validation == metav1.FieldValidationStrict {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("strict decoding error: %s", strictMessages(err)))
		}
		warnings, err = strictErrors(err), nil
	}
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the patched object cannot be decoded: %v", err))
	}
	if *actual != gvk {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the patch changed the object's kind to %s, want %s", actual, gvk))
	}
	return obj, warnings, nil
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, q *Request, sub string) {
	p, err := s.parseWrite(r, &metav1.PatchOptions{})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	pt, err := patchType(r)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	res := q.Store.Resource
	uo := registry.UpdateOptions{WriteOptions: q.WriteOptions(r, p.dryRun, p.manager), Subresource: sub}
	var warnings []string
	var update registry.UpdateFunc
	if pt == types.ApplyYAMLPatchType {
		update, err = s.applyFunc(q, p, sub)
		if err != nil {
			q.WriteError(w, err)
			return
		}
		uo.SkipFieldManager, uo.ForceAllowCreate = true, sub == ""
	} else {
		if p.force != nil {
			q.WriteError(w, apierrors.NewBadRequest("force is only allowed for apply patches"))
			return
		}
		update = func(_ context.Context, current runtime.Object) (runtime.Object, error) {
			if current == nil {
				return nil, apierrors.NewNotFound(res.GroupResource(), q.Name())
			}
			original, err := toJSON(current, res.GroupVersion)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			patched, err := patchJSON(pt, original, p.body, res.New())
			if err != nil {
				return nil, err
			}
			obj, warns, err := decodePatched(patched, res.GroupVersionKind(), res.New(), p.validation)
			warnings = warns
			return obj, err
		}
	}
	out, created, err := q.Store.Update(r.Context(), q.Namespace(), q.Name(), update, uo)
	writeUpdated(w, q, out, created, warnings, err)
}

// applyFunc returns the update of a server-side apply: the applied
// configuration merged into the live object by the field manager, which
// also reports conflicts with other managers.
func (s *Server) applyFunc(q *Request, p writeParams, sub string) (registry.UpdateFunc, error) {
	res := q.Store.Resource
	if p.manager == "" {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "",
			field.ErrorList{field.Required(field.NewPath("fieldManager"), "is required for apply patch")})
	}
	fm := q.Store.FieldManager(sub)
	if fm == nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("server-side apply is not available for %s", res.GroupResource()))
	}
	js, err := yaml.YAMLToJSON(p.body)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(js); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding apply configuration: %v", err))
	}
	if gvk := applied.GroupVersionKind(); gvk != res.GroupVersionKind() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply configuration is a %s, want %s", gvk, res.GroupVersionKind()))
	}
	if applied.GetName() != "" && applied.GetName() != q.Name() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), q.Name()))
	}
	force := p.force != nil && *p.force
	return func(_ context.Context, current runtime.Object) (runtime.Object, error) {
		live := current
		if live == nil {
			live = res.New()
			live.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
		}
		obj, err := fm.Apply(live, applied.DeepCopy(), p.manager, force)
		if err != nil {
			return nil, err
		}
		return obj, nil
	}, nil
}
