package apiserver

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/admission/disruption"
	"skiff.dev/skiff/controlplane/registry"
	"skiff.dev/skiff/controlplane/registry/kinds"
	"skiff.dev/skiff/controlplane/storage"
)

// DefaultSubresources returns the handlers of the special subresources:
// pods/binding, pods/eviction (which asks evictor, the disruption budget
// check) and namespaces/finalize.
func DefaultSubresources(evictor *disruption.Evictor) map[string]SubresourceHandler {
	core := corev1.SchemeGroupVersion
	return map[string]SubresourceHandler{
		storeKey(core, "pods") + "/binding": serveBinding,
		storeKey(core, "pods") + "/eviction": func(w http.ResponseWriter, r *http.Request, q *Request) {
			serveEviction(w, r, q, evictor)
		},
		storeKey(core, "namespaces") + "/finalize": serveFinalize,
	}
}

// decodeSubresourceBody reads and decodes a subresource's body as gvk.
func (s *Server) decodeSubresourceBody(r *http.Request, gvk schema.GroupVersionKind, into runtime.Object) error {
	return decodeInto(r, gvk, into, s.cfg.MaxRequestBodyBytes)
}

// decodeInto reads r's body (at most limit bytes) and decodes it as gvk
// into into.
func decodeInto(r *http.Request, gvk schema.GroupVersionKind, into runtime.Object, limit int64) error {
	info, err := requestSerializer(r)
	if err != nil {
		return err
	}
	body, err := readLimited(r, limit)
	if err != nil {
		return err
	}
	obj, _, err := info.Serializer.Decode(body, &gvk, into)
	if err != nil {
		return cannotHandle(gvk, err)
	}
	if obj != into {
		return apierrors.NewBadRequest(fmt.Sprintf("expected a %s in the body, got %T", gvk.Kind, obj))
	}
	return nil
}

// serveCreateOnly serves a subresource that takes only POSTs of one kind
// (a Binding, an Eviction): it decodes the body into into, checks that it
// names the object of the URL, runs act and answers 201 with a Status.
func serveCreateOnly(w http.ResponseWriter, r *http.Request, q *Request, gvk schema.GroupVersionKind, into runtime.Object, act func() error) {
	if q.Info.Verb != "create" {
		q.WriteError(w, apierrors.NewMethodNotSupported(q.Store.Resource.GroupResource(), q.Info.Verb+" on "+q.Info.Subresource))
		return
	}
	if err := q.server.decodeSubresourceBody(r, gvk, into); err != nil {
		q.WriteError(w, err)
		return
	}
	if m, err := meta.Accessor(into); err == nil && m.GetName() != "" && m.GetName() != q.Name() {
		q.WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("the name of the %s (%s) does not match the name on the URL (%s)", gvk.Kind, m.GetName(), q.Name())))
		return
	}
	if err := act(); err != nil {
		q.WriteError(w, err)
		return
	}
	q.WriteObject(w, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// serveBinding assigns a pod to a node: POST pods/{name}/binding, the
// scheduler's only write.
func serveBinding(w http.ResponseWriter, r *http.Request, q *Request) {
	var b corev1.Binding
	serveCreateOnly(w, r, q, corev1.SchemeGroupVersion.WithKind("Binding"), &b, func() error {
		if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, q.Name(), fieldErrors("target.name", "a node name is required"))
		}
		var pre *storage.Preconditions
		if b.UID != "" {
			pre = &storage.Preconditions{UID: &b.UID}
		}
		now := metav1.Now()
		_, err := q.Store.Mutate(r.Context(), q.Namespace(), q.Name(), pre, func(obj runtime.Object) error {
			if err := kinds.Bind(obj.(*corev1.Pod), &b, now); err != nil {
				return apierrors.NewConflict(q.Store.Resource.GroupResource(), q.Name(), err)
			}
			return nil
		})
		return err
	})
}

// serveEviction deletes a pod the way kubectl drain asks to: POST
// pods/{name}/eviction with the delete options in the Eviction, refused
// with 429 when a disruption budget would break.
func serveEviction(w http.ResponseWriter, r *http.Request, q *Request, evictor *disruption.Evictor) {
	var ev policyv1.Eviction
	serveCreateOnly(w, r, q, policyv1.SchemeGroupVersion.WithKind("Eviction"), &ev, func() error {
		opts := ev.DeleteOptions
		if opts == nil {
			opts = &metav1.DeleteOptions{}
		}
		if dry := r.URL.Query()["dryRun"]; len(dry) > 0 && len(opts.DryRun) == 0 {
			opts.DryRun = dry
		}
		if err := checkDryRun(opts.DryRun); err != nil {
			return err
		}
		pods := disruption.StorePods{Store: q.Store, Options: q.WriteOptions(r, opts.DryRun, "")}
		return evictor.Evict(r.Context(), pods, q.Namespace(), q.Name(), opts)
	})
}

// serveFinalize sets a namespace's spec.finalizers: PUT
// namespaces/{name}/finalize, which the namespace controller calls once it
// has emptied a terminating namespace.
func serveFinalize(w http.ResponseWriter, r *http.Request, q *Request) {
	if q.Info.Verb != "update" {
		q.WriteError(w, apierrors.NewMethodNotSupported(q.Store.Resource.GroupResource(), q.Info.Verb+" on finalize"))
		return
	}
	var ns corev1.Namespace
	if err := q.server.decodeSubresourceBody(r, corev1.SchemeGroupVersion.WithKind("Namespace"), &ns); err != nil {
		q.WriteError(w, err)
		return
	}
	out, _, err := q.Store.Update(r.Context(), "", q.Name(), func(_ context.Context, current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(q.Store.Resource.GroupResource(), q.Name())
		}
		return ns.DeepCopy(), nil
	}, registry.UpdateOptions{WriteOptions: q.WriteOptions(r, nil, ""), Subresource: "finalize"})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	q.WriteObject(w, http.StatusOK, out)
}
