package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/controlplane/registry"
)

// serveScale serves the autoscaling/v1 Scale view of a workload: get,
// update and patch, all of which read or change only spec.replicas.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, q *Request) {
	res := q.Store.Resource
	scaleGV := autoscalingv1.SchemeGroupVersion
	writeScale := func(code int, obj runtime.Object) {
		sc, err := res.Scale.Get(obj)
		if err != nil {
			q.WriteError(w, apierrors.NewInternalError(err))
			return
		}
		q.writeAs(w, scaleGV, code, sc)
	}
	if q.Info.Verb == "get" {
		obj, err := q.Store.Get(r.Context(), q.Namespace(), q.Name())
		if err != nil {
			q.WriteError(w, err)
			return
		}
		writeScale(http.StatusOK, obj)
		return
	}
	if q.Info.Verb != "update" && q.Info.Verb != "patch" {
		q.WriteError(w, apierrors.NewMethodNotSupported(res.GroupResource(), q.Info.Verb+" on scale"))
		return
	}
	var opts runtime.Object = &metav1.UpdateOptions{}
	if q.Info.Verb == "patch" {
		opts = &metav1.PatchOptions{}
	}
	p, err := s.parseWrite(r, opts)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	body := p.body
	var pt types.PatchType
	if q.Info.Verb == "patch" {
		if pt, err = patchType(r); err != nil {
			q.WriteError(w, err)
			return
		}
		if pt == types.ApplyYAMLPatchType {
			q.WriteError(w, apierrors.NewBadRequest("server-side apply is not supported on the scale subresource"))
			return
		}
	}
	scaleGVK := scaleGV.WithKind("Scale")
	update := func(_ context.Context, current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(res.GroupResource(), q.Name())
		}
		cur, err := res.Scale.Get(current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		var want *autoscalingv1.Scale
		if pt != "" {
			original, err := toJSON(cur, scaleGV)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			patched, err := patchJSON(pt, original, body, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			obj, _, err := decodePatched(patched, scaleGVK, &autoscalingv1.Scale{}, metav1.FieldValidationIgnore)
			if err != nil {
				return nil, err
			}
			want = obj.(*autoscalingv1.Scale)
		} else {
			info, err := requestSerializer(r)
			if err != nil {
				return nil, err
			}
			obj, _, err := info.Serializer.Decode(body, &scaleGVK, &autoscalingv1.Scale{})
			if err != nil {
				return nil, cannotHandle(scaleGVK, err)
			}
			sc, ok := obj.(*autoscalingv1.Scale)
			if !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Scale, got %T", obj))
			}
			want = sc
		}
		if want.ResourceVersion != "" && want.ResourceVersion != cur.ResourceVersion {
			return nil, apierrors.NewConflict(res.GroupResource(), q.Name(), errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), q.Name(), field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0"),
			})
		}
		obj := current.DeepCopyObject()
		res.Scale.SetReplicas(obj, want.Spec.Replicas)
		return obj, nil
	}
	out, _, err := q.Store.Update(r.Context(), q.Namespace(), q.Name(), update,
		registry.UpdateOptions{WriteOptions: q.WriteOptions(r, p.dryRun, p.manager)})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	writeScale(http.StatusOK, out)
}
