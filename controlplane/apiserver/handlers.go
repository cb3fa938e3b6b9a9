package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/apis/printers"
	"skiff.dev/skiff/controlplane/auth"
	"skiff.dev/skiff/controlplane/registry"
)

// Request is a resource request routed to its store.
type Request struct {
	Info   *requestInfo
	Store  *registry.Store
	Media  mediaType
	User   *auth.User
	server *Server
}

// GroupVersion is the group version the response speaks.
func (q *Request) GroupVersion() schema.GroupVersion { return q.Store.Resource.GroupVersion }

// Namespace and Name locate the object.
func (q *Request) Namespace() string { return q.Info.Namespace }

// Name is the object's name from the URL.
func (q *Request) Name() string { return q.Info.Name }

// WriteOptions returns the write options common to the request's verbs.
func (q *Request) WriteOptions(r *http.Request, dryRun []string, manager string) registry.WriteOptions {
	return registry.WriteOptions{DryRun: len(dryRun) > 0, FieldManager: managerName(manager, r), User: q.User}
}

// WriteObject answers with obj, as a Table when the client asked for one.
func (q *Request) WriteObject(w http.ResponseWriter, code int, obj runtime.Object) {
	q.writeAs(w, q.GroupVersion(), code, obj)
}

// writeAs answers with obj as apiVersion gv, or as a Table.
func (q *Request) writeAs(w http.ResponseWriter, gv schema.GroupVersion, code int, obj runtime.Object) {
	if q.Media.table {
		table, err := printers.ConvertToTable(obj, q.Media.tableOptions)
		if err != nil {
			writeError(w, q.Media, tableError(err))
			return
		}
		writeObject(w, q.Media, metav1.SchemeGroupVersion, code, table)
		return
	}
	writeObject(w, q.Media, gv, code, obj)
}

// tableError maps a printer error onto the status Kubernetes answers.
func tableError(err error) error {
	switch {
	case errors.Is(err, printers.ErrInvalidIncludeObject):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, printers.ErrNoObjectMeta):
		return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return apierrors.NewInternalError(err)
}

// WriteError answers with err as a Status.
func (q *Request) WriteError(w http.ResponseWriter, err error) { writeError(w, q.Media, err) }

var parameterCodec = runtime.NewParameterCodec(apis.Scheme)

// decodeParams fills opts (a meta/v1 options struct) from the query.
func decodeParams(r *http.Request, opts runtime.Object) error {
	if err := parameterCodec.DecodeParameters(r.URL.Query(), metav1.Unversioned, opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

func notFoundPath(path string) error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "get", schema.GroupResource{}, "", fmt.Sprintf("the server could not find the requested resource (path %q)", path), 0, false)
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	for _, g := range s.cfg.Groups {
		if g.GroupVersion.Group == info.APIGroup && g.GroupVersion.Version == info.APIVersion {
			info.known = true
			g.Handler.ServeHTTP(w, r)
			return
		}
	}
	st := s.stores[storeKey(schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}, info.Resource)]
	if st == nil || len(info.Parts) > 3 || (!st.Resource.Namespaced && info.Namespace != "") ||
		(st.Resource.Namespaced && info.Name != "" && info.Namespace == "") {
		writeError(w, mediaType{}, notFoundPath(r.URL.Path))
		return
	}
	info.known = true
	u, _ := auth.UserFrom(r.Context())
	mt, err := negotiate(r, info.Verb == "get" || info.Verb == "list" || info.Verb == "watch")
	if err != nil {
		writeError(w, mediaType{}, err)
		return
	}
	q := &Request{Info: info, Store: st, Media: mt, User: u, server: s}
	if info.Subresource != "" {
		s.serveSubresource(w, r, q)
		return
	}
	switch info.Verb {
	case "get":
		s.get(w, r, q)
	case "list":
		s.list(w, r, q)
	case "watch":
		s.watch(w, r, q)
	case "create":
		if info.Name != "" {
			writeError(w, mt, apierrors.NewMethodNotSupported(st.Resource.GroupResource(), "create on a named object"))
			return
		}
		s.create(w, r, q)
	case "update":
		s.update(w, r, q, "")
	case "patch":
		s.patch(w, r, q, "")
	case "delete":
		s.delete(w, r, q)
	case "deletecollection":
		s.deleteCollection(w, r, q)
	default:
		writeError(w, mt, apierrors.NewMethodNotSupported(st.Resource.GroupResource(), r.Method))
	}
}

func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, q *Request) {
	res := q.Store.Resource
	switch sub := q.Info.Subresource; {
	case sub == "status" && res.Status:
		switch q.Info.Verb {
		case "get":
			s.get(w, r, q)
		case "update":
			s.update(w, r, q, "status")
		case "patch":
			s.patch(w, r, q, "status")
		default:
			q.WriteError(w, apierrors.NewMethodNotSupported(res.GroupResource(), q.Info.Verb+" on status"))
		}
	case sub == "scale" && res.Scale != nil:
		s.serveScale(w, r, q)
	default:
		h := s.cfg.Subresources[storeKey(res.GroupVersion, res.Plural)+"/"+sub]
		if h == nil {
			q.WriteError(w, notFoundPath(r.URL.Path))
			return
		}
		h(w, r, q)
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, q *Request) {
	var opts metav1.GetOptions
	if err := decodeParams(r, &opts); err != nil {
		q.WriteError(w, err)
		return
	}
	obj, err := q.Store.Get(r.Context(), q.Namespace(), q.Name())
	if err != nil {
		q.WriteError(w, err)
		return
	}
	q.WriteObject(w, http.StatusOK, obj)
}

// listOptions parses and checks the list and watch query parameters.
func listOptions(r *http.Request, q *Request) (registry.ListOptions, *metav1.ListOptions, error) {
	var opts metav1.ListOptions
	if err := decodeParams(r, &opts); err != nil {
		return registry.ListOptions{}, nil, err
	}
	lo := registry.ListOptions{
		ResourceVersion: opts.ResourceVersion, ResourceVersionMatch: opts.ResourceVersionMatch,
		Limit: opts.Limit, Continue: opts.Continue,
		SendInitialEvents: opts.SendInitialEvents, AllowWatchBookmarks: opts.AllowWatchBookmarks,
	}
	var err error
	if lo.Label, err = labels.Parse(opts.LabelSelector); err != nil {
		return lo, nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if lo.Field, err = fields.ParseSelector(opts.FieldSelector); err != nil {
		return lo, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	_, supported, _ := q.Store.Resource.Strategy.GetAttrs(q.Store.Resource.New())
	for _, req := range lo.Field.Requirements() {
		if _, ok := supported[req.Field]; !ok {
			return lo, nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	if q.Info.Name != "" {
		// /watch/.../{name} and ?watch on a named object: select it by name.
		lo.Field = fields.AndSelectors(lo.Field, fields.OneTermEqualSelector("metadata.name", q.Info.Name))
	}
	switch opts.ResourceVersionMatch {
	case "", metav1.ResourceVersionMatchNotOlderThan:
	case metav1.ResourceVersionMatchExact:
		if opts.ResourceVersion == "" || opts.ResourceVersion == "0" {
			return lo, nil, apierrors.NewBadRequest("resourceVersionMatch=Exact requires a resourceVersion other than \"\" and \"0\"")
		}
	default:
		return lo, nil, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: unsupported value %q", opts.ResourceVersionMatch))
	}
	if opts.Limit < 0 {
		return lo, nil, apierrors.NewBadRequest("limit must not be negative")
	}
	return lo, &opts, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, q *Request) {
	lo, _, err := listOptions(r, q)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	obj, err := q.Store.List(r.Context(), q.Namespace(), lo)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	q.WriteObject(w, http.StatusOK, obj)
}

// readBody reads a request body within the size limit.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	return readLimited(r, s.cfg.MaxRequestBodyBytes)
}

// readLimited reads a request body of at most limit bytes; a larger one is
// a 413.
func readLimited(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", limit))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	return body, nil
}

// decodeBody decodes a create or update body into the resource's type,
// applying the field validation level asked for. It returns warnings for
// unknown or duplicate fields when the level is Warn.
func (s *Server) decodeBody(r *http.Request, q *Request, body []byte, validation string) (runtime.Object, []string, error) {
	info, err := requestSerializer(r)
	if err != nil {
		return nil, nil, err
	}
	res := q.Store.Resource
	gvk := res.GroupVersionKind()
	dec := info.Serializer
	strict := validation != metav1.FieldValidationIgnore && info.StrictSerializer != nil
	if strict {
		dec = info.StrictSerializer
		if info.MediaType == runtime.ContentTypeJSON {
			if obj := decodeJSONFast(body, gvk, res.New()); obj != nil {
				return obj, nil, nil
			}
		}
	}
	obj, actual, err := dec.Decode(body, &gvk, res.New())
	var warnings []string
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if validation == metav1.FieldValidationStrict {
			return nil, nil, cannotHandle(gvk, fmt.Errorf("strict decoding error: %s", strictMessages(err)))
		}
		warnings = strictErrors(err)
		err = nil
	}
	if err != nil {
		return nil, nil, cannotHandle(gvk, err)
	}
	if actual.GroupVersion() != gvk.GroupVersion() {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), gvk.GroupVersion()))
	}
	if actual.Kind != gvk.Kind {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind))
	}
	return obj, warnings, nil
}

// decodeJSONFast decodes a JSON body into into in one strict pass, where
// the serializer parses it twice (once for apiVersion and kind, once for
// the object). It returns nil unless the body decoded without error or
// strictness finding and named exactly gvk; the caller then takes the
// serializer's path, which words every error and warning. No strictness
// finding also means that no key differs from a field name only by case,
// which the serializer's kind lookup would have matched.
func decodeJSONFast(body []byte, gvk schema.GroupVersionKind, into runtime.Object) runtime.Object {
	strictErrs, err := kjson.UnmarshalStrict(body, into)
	if err != nil || len(strictErrs) > 0 {
		return nil
	}
	if into.GetObjectKind().GroupVersionKind() != gvk {
		return nil
	}
	return into
}

// cannotHandle is the 400 of a body that does not decode, worded as
// kube-apiserver words it.
func cannotHandle(gvk schema.GroupVersionKind, err error) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
}

func strictErrors(err error) []string {
	var out []string
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range se.Errors() {
			out = append(out, e.Error())
		}
	}
	return out
}

func strictMessages(err error) string { return strings.Join(strictErrors(err), ", ") }

// addWarnings sets Kubernetes Warning headers.
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
}

// fieldValidation returns the level of a write, Warn by default.
func fieldValidation(v string) (string, error) {
	switch v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationStrict, metav1.FieldValidationWarn, metav1.FieldValidationIgnore:
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("invalid fieldValidation %q: must be one of Strict, Warn or Ignore", v))
}

// managerName returns the field manager of a write: the explicit one, or
// the user agent's product name as Kubernetes does.
func managerName(manager string, r *http.Request) string {
	if manager != "" {
		return manager
	}
	ua := r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

func checkDryRun(dryRun []string) error {
	for _, d := range dryRun {
		if d != metav1.DryRunAll {
			return apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, supported values: %q", d, metav1.DryRunAll))
		}
	}
	return nil
}

// writeParams are the parsed options and body of a create, update or patch.
type writeParams struct {
	dryRun     []string
	manager    string
	validation string
	body       []byte
	// force is the apply patch's force flag.
	force *bool
}

// parseWrite decodes a write's query options (metav1.CreateOptions,
// UpdateOptions or PatchOptions), checks them and reads the body.
func (s *Server) parseWrite(r *http.Request, opts runtime.Object) (writeParams, error) {
	if err := decodeParams(r, opts); err != nil {
		return writeParams{}, err
	}
	var p writeParams
	switch o := opts.(type) {
	case *metav1.CreateOptions:
		p = writeParams{dryRun: o.DryRun, manager: o.FieldManager, validation: o.FieldValidation}
	case *metav1.UpdateOptions:
		p = writeParams{dryRun: o.DryRun, manager: o.FieldManager, validation: o.FieldValidation}
	case *metav1.PatchOptions:
		p = writeParams{dryRun: o.DryRun, manager: o.FieldManager, validation: o.FieldValidation, force: o.Force}
	default:
		return p, apierrors.NewInternalError(fmt.Errorf("unexpected options %T", opts))
	}
	var err error
	if p.validation, err = fieldValidation(p.validation); err != nil {
		return p, err
	}
	if err := checkDryRun(p.dryRun); err != nil {
		return p, err
	}
	if len(p.manager) > 128 {
		return p, apierrors.NewBadRequest("fieldManager: Too long: may not be longer than 128 characters")
	}
	p.body, err = s.readBody(r)
	return p, err
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, q *Request) {
	p, err := s.parseWrite(r, &metav1.CreateOptions{})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	obj, warnings, err := s.decodeBody(r, q, p.body, p.validation)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	out, err := q.Store.Create(r.Context(), q.Namespace(), obj, q.WriteOptions(r, p.dryRun, p.manager))
	if err != nil {
		q.WriteError(w, err)
		return
	}
	addWarnings(w, warnings)
	q.WriteObject(w, http.StatusCreated, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, q *Request, sub string) {
	p, err := s.parseWrite(r, &metav1.UpdateOptions{})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	obj, warnings, err := s.decodeBody(r, q, p.body, p.validation)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	out, created, err := q.Store.Update(r.Context(), q.Namespace(), q.Name(), func(_ context.Context, _ runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, registry.UpdateOptions{WriteOptions: q.WriteOptions(r, p.dryRun, p.manager), Subresource: sub})
	writeUpdated(w, q, out, created, warnings, err)
}

// writeUpdated answers an update or patch: 201 when it created the object.
func writeUpdated(w http.ResponseWriter, q *Request, out runtime.Object, created bool, warnings []string, err error) {
	if err != nil {
		q.WriteError(w, err)
		return
	}
	addWarnings(w, warnings)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	q.WriteObject(w, code, out)
}

// deleteOptions reads DeleteOptions from the body (client-go sends them
// there) or else from the query.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := s.readBody(r)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		info, err := requestSerializer(r)
		if err != nil {
			return nil, err
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := info.Serializer.Decode(body, &gvk, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err))
		}
		if obj != opts {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected DeleteOptions in the body, got %T", obj))
		}
	} else if err := decodeParams(r, opts); err != nil {
		return nil, err
	}
	if err := checkDryRun(opts.DryRun); err != nil {
		return nil, err
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy cannot both be set")
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: unsupported value %q: must be Orphan, Background or Foreground", *p))
		}
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, q *Request) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	obj, gone, err := q.Store.Delete(r.Context(), q.Namespace(), q.Name(), registry.DeleteOptions{
		WriteOptions: q.WriteOptions(r, opts.DryRun, ""), Options: opts,
	})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	code := http.StatusOK
	if !gone {
		code = http.StatusAccepted
	}
	q.WriteObject(w, code, obj)
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, q *Request) {
	lo, _, err := listOptions(r, q)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	opts, err := s.deleteOptions(r)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	out, err := q.Store.DeleteCollection(r.Context(), q.Namespace(), lo, registry.DeleteOptions{
		WriteOptions: q.WriteOptions(r, opts.DryRun, ""), Options: opts,
	})
	if err != nil {
		q.WriteError(w, err)
		return
	}
	q.WriteObject(w, http.StatusOK, out)
}

func fieldErrors(path, msg string) field.ErrorList {
	return field.ErrorList{field.Required(field.NewPath(path), msg)}
}
