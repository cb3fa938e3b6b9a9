package apiserver

import (
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kinds of the metadata-only representations clients ask for with
// Accept: ...;as=<kind>;g=meta.k8s.io;v=v1 (client-go's metadata client,
// which the garbage collector's informers use).
const (
	kindPartial     = "PartialObjectMetadata"
	kindPartialList = "PartialObjectMetadataList"
)

// partialTarget returns the metadata-only kind a media type clause asks
// for, if it is one skiff serves: PartialObjectMetadata or
// PartialObjectMetadataList of meta.k8s.io v1 or v1beta1.
func partialTarget(params map[string]string) (schema.GroupVersionKind, bool) {
	as, g, v := params["as"], params["g"], params["v"]
	if (as != kindPartial && as != kindPartialList) || g != metav1.GroupName || (v != "v1" && v != "v1beta1") {
		return schema.GroupVersionKind{}, false
	}
	return schema.GroupVersionKind{Group: g, Version: v, Kind: as}, true
}

// withPartial returns info with serializers that answer every object as
// target: the response handlers and watch encode as usual, and only the
// last step differs.
func withPartial(info runtime.SerializerInfo, target schema.GroupVersionKind) runtime.SerializerInfo {
	info.Serializer = partialSerializer{Serializer: info.Serializer, target: target}
	if info.PrettySerializer != nil {
		info.PrettySerializer = partialSerializer{Serializer: info.PrettySerializer, target: target}
	}
	return info
}

// partialSerializer encodes the metadata of objects (an object as
// PartialObjectMetadata, a list as PartialObjectMetadataList) with the
// serializer it wraps, as kube-apiserver transforms its responses. A
// Status goes out unchanged. Decoding is the wrapped serializer's.
type partialSerializer struct {
	runtime.Serializer
	target schema.GroupVersionKind
}

// Encode implements runtime.Encoder.
func (s partialSerializer) Encode(obj runtime.Object, w io.Writer) error {
	if _, ok := obj.(*metav1.Status); ok {
		return s.Serializer.Encode(obj, w)
	}
	out, err := asPartial(obj, s.target)
	if err != nil {
		return err
	}
	return s.Serializer.Encode(out, w)
}

// Identifier implements runtime.Encoder.
func (s partialSerializer) Identifier() runtime.Identifier {
	return runtime.Identifier(fmt.Sprintf("partial(%s,%s)", s.target, s.Serializer.Identifier()))
}

// asPartial converts obj into the metadata-only kind target names; asking
// for the wrong one of the object and list kinds is a 406, worded as
// kube-apiserver words it.
func asPartial(obj runtime.Object, target schema.GroupVersionKind) (runtime.Object, error) {
	isList := meta.IsListType(obj)
	switch {
	case target.Kind == kindPartial && isList:
		return nil, notAcceptable(fmt.Sprintf("you requested PartialObjectMetadata, but the requested object is a list (%T)", obj))
	case target.Kind == kindPartialList && !isList:
		return nil, notAcceptable(fmt.Sprintf("you requested PartialObjectMetadataList, but the requested object is not a list (%T)", obj))
	case target.Kind == kindPartial:
		return partialOf(obj, target.GroupVersion().WithKind(kindPartial))
	}
	return partialListOf(obj, target.GroupVersion())
}

// partialOf returns the metadata of obj as a PartialObjectMetadata of
// gvk. It shares obj's metadata, which the caller must not change.
func partialOf(obj runtime.Object, gvk schema.GroupVersionKind) (*metav1.PartialObjectMetadata, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("partial object metadata of %T: %w", obj, err)
	}
	p := meta.AsPartialObjectMetadata(m)
	p.SetGroupVersionKind(gvk)
	return p, nil
}

// partialListOf returns the metadata of a list and of its items as a
// PartialObjectMetadataList of gv.
func partialListOf(list runtime.Object, gv schema.GroupVersion) (runtime.Object, error) {
	li, err := meta.ListAccessor(list)
	if err != nil {
		return nil, fmt.Errorf("partial object metadata list of %T: %w", list, err)
	}
	var items []metav1.PartialObjectMetadata
	err = meta.EachListItem(list, func(obj runtime.Object) error {
		p, err := partialOf(obj, gv.WithKind(kindPartial))
		if err != nil {
			return err
		}
		items = append(items, *p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	listMeta := metav1.ListMeta{ResourceVersion: li.GetResourceVersion(), Continue: li.GetContinue(),
		RemainingItemCount: li.GetRemainingItemCount()}
	if gv.Version == "v1beta1" {
		out := &metav1beta1.PartialObjectMetadataList{ListMeta: listMeta, Items: items}
		out.SetGroupVersionKind(gv.WithKind(kindPartialList))
		return out, nil
	}
	out := &metav1.PartialObjectMetadataList{ListMeta: listMeta, Items: items}
	out.SetGroupVersionKind(gv.WithKind(kindPartialList))
	return out, nil
}
