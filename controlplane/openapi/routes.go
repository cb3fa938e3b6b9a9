package openapi

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kube-openapi/pkg/common"

	"skiff.dev/skiff/controlplane/apis"
)

// Operation extensions, as in Kubernetes' documents.
const extensionAction = "x-kubernetes-action"

// Media types of requests and responses.
var (
	objectMediaTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	listMediaTypes   = append(slices.Clone(objectMediaTypes), "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	textMediaTypes   = []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	anyMediaType     = []string{"*/*"}
	patchMediaTypes  = []string{
		string(types.JSONPatchType),
		string(types.MergePatchType),
		string(types.StrategicMergePatchType),
		string(types.ApplyYAMLPatchType),
	}
)

// Parameters shared by many routes.
var (
	prettyParam = &parameter{
		name:        "pretty",
		description: "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
		kind:        common.QueryParameterKind,
		dataType:    "string",
	}
	namespaceParam = &parameter{
		name:        "namespace",
		description: "object name and auth scope, such as for teams and projects",
		kind:        common.PathParameterKind,
		dataType:    "string",
		required:    true,
	}
	listParams             = optionParams(&metav1.ListOptions{})
	createParams           = optionParams(&metav1.CreateOptions{})
	updateParams           = optionParams(&metav1.UpdateOptions{})
	patchParams            = optionParams(&metav1.PatchOptions{})
	deleteParams           = optionParams(&metav1.DeleteOptions{})
	allNamespacesParams    = append([]common.Parameter{prettyParam}, listParams...)
	deleteCollectionParams = append(optionParams(&metav1.DeleteOptions{}), optionParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks")...)
)

// modelName is a request or response sample that names its definition; the
// kube-openapi builders ask samples for their model name.
type modelName string

// OpenAPIModelName returns the definition name.
func (m modelName) OpenAPIModelName() string { return string(m) }

// Samples of bodies every resource shares. The builders map the name
// "string" to a string schema: textModel is a plain-text response.
var (
	textModel          = modelName("string")
	statusModel        = modelName(metav1.Status{}.OpenAPIModelName())
	deleteOptionsModel = modelName(metav1.DeleteOptions{}.OpenAPIModelName())
	patchModel         = modelName(metav1.Patch{}.OpenAPIModelName())
	watchEventModel    = modelName(metav1.WatchEvent{}.OpenAPIModelName())
)

// webService holds the routes of one group version.
type webService struct {
	root   string
	routes []common.Route
}

func (w *webService) RootPath() string                   { return w.root }
func (w *webService) PathParameters() []common.Parameter { return nil }
func (w *webService) Routes() []common.Route             { return w.routes }

// route is one operation: a method on a path.
type route struct {
	method      string
	path        string
	operationID string
	tag         string
	description string
	params      []common.Parameter
	consumes    []string
	produces    []string
	body        interface{} // a modelName, or nil for no body
	responses   []common.StatusCodeResponse
	metadata    map[string]interface{}
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.operationID }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.description }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]interface{}                 { return r.metadata }
func (r *route) RequestPayloadSample() interface{}                { return r.body }
func (r *route) ResponsePayloadSample() interface{}               { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// operationIDAndTags gives the builders the operation ID and tag of a route.
func operationIDAndTags(r common.Route) (string, []string, error) {
	rt, ok := r.(*route)
	if !ok {
		return "", nil, fmt.Errorf("route %s %s: not built by this package", r.Method(), r.Path())
	}
	return rt.operationID, []string{rt.tag}, nil
}

// parameter is a path, query or body parameter.
type parameter struct {
	name        string
	description string
	kind        common.ParameterKind
	dataType    string
	required    bool
}

func (p *parameter) Name() string               { return p.name }
func (p *parameter) Description() string        { return p.description }
func (p *parameter) Required() bool             { return p.required }
func (p *parameter) Kind() common.ParameterKind { return p.kind }
func (p *parameter) DataType() string           { return p.dataType }
func (p *parameter) AllowMultiple() bool        { return false }

// bodyParam is the request body; the route's body sample gives its schema.
func bodyParam(required bool) []common.Parameter {
	return []common.Parameter{&parameter{name: "body", kind: common.BodyParameterKind, required: required}}
}

// response is one status code of an operation.
type response struct {
	code  int
	model interface{}
}

func (r response) Code() int          { return r.code }
func (r response) Message() string    { return http.StatusText(r.code) }
func (r response) Model() interface{} { return r.model }

func responses(model modelName, codes ...int) []common.StatusCodeResponse {
	out := make([]common.StatusCodeResponse, 0, len(codes))
	for _, code := range codes {
		out = append(out, response{code: code, model: model})
	}
	return out
}

// optionParams returns the query parameters that the JSON fields of an
// options type stand for, described by the type's SwaggerDoc, as Kubernetes
// derives them. Struct fields (TypeMeta, preconditions, sinceTime) are no
// query parameters.
func optionParams(options interface{}, exclude ...string) []common.Parameter {
	t := reflect.TypeOf(options)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var docs map[string]string
	if d, ok := options.(interface{ SwaggerDoc() map[string]string }); ok {
		docs = d.SwaggerDoc()
	}
	var params []common.Parameter
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || slices.Contains(exclude, name) {
			continue
		}
		dataType := queryType(f.Type)
		if dataType == "" {
			continue
		}
		params = append(params, &parameter{name: name, description: docs[name], kind: common.QueryParameterKind, dataType: dataType})
	}
	return params
}

// queryType is the OpenAPI type of a query parameter of Go type t, or "" when
// t is no scalar. A repeated parameter (dryRun) has its element's type.
func queryType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	}
	return ""
}

// rootPath is the path prefix of a group version: /api/v1 or /apis/<group>/<version>.
func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// groupIdent is the group's short name in operation IDs and tags.
func groupIdent(group string) string {
	if group == "" {
		return "core"
	}
	return strings.TrimSuffix(group, ".k8s.io")
}

// toValidOperationID keeps the letters, underscores and (not leading)
// digits of s, capitalising the letter after each dropped character and,
// when asked, the first one, as Kubernetes does (apps.v1 -> AppsV1).
func toValidOperationID(s string, capitalizeFirst bool) string {
	var b strings.Builder
	capitalize := capitalizeFirst
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i != 0 && unicode.IsDigit(r)) {
			if capitalize {
				r = unicode.ToUpper(r)
				capitalize = false
			}
			b.WriteRune(r)
		} else {
			capitalize = true
		}
	}
	return b.String()
}

// modelOf returns the definition name of a kind served by skiff.
func modelOf(gvk schema.GroupVersionKind) (modelName, error) {
	if !apis.Scheme.Recognizes(gvk) {
		return "", fmt.Errorf("kind %v is not in the scheme", gvk)
	}
	name, err := apis.Scheme.ToOpenAPIDefinitionName(gvk)
	if err != nil {
		return "", fmt.Errorf("definition name of %v: %w", gvk, err)
	}
	return modelName(name), nil
}

// gvkMetadata returns the extensions of an operation on kind gvk.
func gvkMetadata(action string, gvk schema.GroupVersionKind) map[string]interface{} {
	return map[string]interface{}{
		extensionAction: action,
		extensionGVK:    metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
	}
}

// resourceRouter builds the routes of one resource.
type resourceRouter struct {
	res        Resource
	tag        string // apps_v1
	idGV       string // AppsV1
	scope      string // "Namespaced" or ""
	root       string // /apis/apps/v1
	scoped     string // /namespaces/{namespace}/deployments
	collection string // root + scoped
	item       string // collection + /{name}
	collParams []common.Parameter
	itemParams []common.Parameter
	routes     []common.Route
}

// resourceRoutes returns the routes of r, which must be in group version gv.
func resourceRoutes(gv schema.GroupVersion, r Resource) ([]common.Route, error) {
	kind := r.GroupVersionKind
	if kind.GroupVersion() != gv || kind.Kind == "" || r.Plural == "" {
		return nil, fmt.Errorf("resource %q of %v: want a kind and plural in %v", r.Plural, kind, gv)
	}
	b := &resourceRouter{
		res:        r,
		tag:        toValidOperationID(groupIdent(gv.Group), false) + "_" + toValidOperationID(gv.Version, false),
		idGV:       toValidOperationID(groupIdent(gv.Group), true) + toValidOperationID(gv.Version, true),
		root:       rootPath(gv),
		scoped:     "/" + r.Plural,
		collParams: []common.Parameter{prettyParam},
	}
	if r.Namespaced {
		b.scope = "Namespaced"
		b.scoped = "/namespaces/{namespace}/" + r.Plural
		b.collParams = append(b.collParams, namespaceParam)
	}
	b.collection = b.root + b.scoped
	b.item = b.collection + "/{name}"
	b.itemParams = append(slices.Clone(b.collParams), &parameter{
		name:        "name",
		description: "name of the " + kind.Kind,
		kind:        common.PathParameterKind,
		dataType:    "string",
		required:    true,
	})
	if err := b.addVerbs(); err != nil {
		return nil, fmt.Errorf("resource %s: %w", r.Plural, err)
	}
	for _, s := range r.Subresources {
		if err := b.addSubresource(s); err != nil {
			return nil, fmt.Errorf("resource %s/%s: %w", r.Plural, s.Name, err)
		}
	}
	return b.routes, nil
}

// add completes rt with the resource's tag and the operation's extensions.
func (b *resourceRouter) add(rt *route, action string, gvk schema.GroupVersionKind) {
	rt.tag = b.tag
	rt.metadata = gvkMetadata(action, gvk)
	if rt.consumes == nil {
		rt.consumes = anyMediaType
	}
	b.routes = append(b.routes, rt)
}

func (b *resourceRouter) addVerbs() error {
	kind := b.res.GroupVersionKind
	model, err := modelOf(kind)
	if err != nil {
		return err
	}
	id := b.idGV + b.scope + kind.Kind
	for _, verb := range b.res.Verbs {
		switch verb {
		case "get":
			b.add(&route{method: http.MethodGet, path: b.item, operationID: "read" + id,
				description: "read the specified " + kind.Kind, params: b.itemParams,
				produces: objectMediaTypes, responses: responses(model, http.StatusOK)}, "get", kind)
		case "list":
			list, err := modelOf(kind.GroupVersion().WithKind(kind.Kind + "List"))
			if err != nil {
				return err
			}
			b.add(&route{method: http.MethodGet, path: b.collection, operationID: "list" + id,
				description: "list or watch objects of kind " + kind.Kind, params: join(b.collParams, listParams),
				produces: listMediaTypes, responses: responses(list, http.StatusOK)}, "list", kind)
			if b.res.Namespaced {
				b.add(&route{method: http.MethodGet, path: b.root + "/" + b.res.Plural,
					operationID: "list" + b.idGV + kind.Kind + "ForAllNamespaces",
					description: "list or watch objects of kind " + kind.Kind, params: allNamespacesParams,
					produces: listMediaTypes, responses: responses(list, http.StatusOK)}, "list", kind)
			}
		case "watch":
			// The deprecated /watch/ paths; list's watch parameter is the
			// way clients watch.
			b.add(&route{method: http.MethodGet, path: b.root + "/watch" + b.scoped + "/{name}", operationID: "watch" + id,
				description: "watch changes to an object of kind " + kind.Kind + ". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
				params:      join(b.itemParams, listParams), produces: listMediaTypes, responses: responses(watchEventModel, http.StatusOK)}, "watch", kind)
			b.add(&route{method: http.MethodGet, path: b.root + "/watch" + b.scoped, operationID: "watch" + id + "List",
				description: "watch individual changes to a list of " + kind.Kind + ". deprecated: use the 'watch' parameter with a list operation instead.",
				params:      join(b.collParams, listParams), produces: listMediaTypes, responses: responses(watchEventModel, http.StatusOK)}, "watchlist", kind)
			if b.res.Namespaced {
				b.add(&route{method: http.MethodGet, path: b.root + "/watch/" + b.res.Plural, operationID: "watch" + b.idGV + kind.Kind + "ListForAllNamespaces",
					description: "watch individual changes to a list of " + kind.Kind + ". deprecated: use the 'watch' parameter with a list operation instead.",
					params:      allNamespacesParams, produces: listMediaTypes, responses: responses(watchEventModel, http.StatusOK)}, "watchlist", kind)
			}
		case "create":
			b.add(&route{method: http.MethodPost, path: b.collection, operationID: "create" + id,
				description: "create a " + kind.Kind, params: join(b.collParams, createParams, bodyParam(true)),
				body: model, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated, http.StatusAccepted)}, "post", kind)
		case "update":
			b.add(&route{method: http.MethodPut, path: b.item, operationID: "replace" + id,
				description: "replace the specified " + kind.Kind, params: join(b.itemParams, updateParams, bodyParam(true)),
				body: model, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated)}, "put", kind)
		case "patch":
			b.add(&route{method: http.MethodPatch, path: b.item, operationID: "patch" + id,
				description: "partially update the specified " + kind.Kind, params: join(b.itemParams, patchParams, bodyParam(true)),
				body: patchModel, consumes: patchMediaTypes, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated)}, "patch", kind)
		case "delete":
			b.add(&route{method: http.MethodDelete, path: b.item, operationID: "delete" + id,
				description: "delete a " + kind.Kind, params: join(b.itemParams, deleteParams, bodyParam(false)),
				body: deleteOptionsModel, produces: objectMediaTypes,
				responses: responses(statusModel, http.StatusOK, http.StatusAccepted)}, "delete", kind)
		case "deletecollection":
			b.add(&route{method: http.MethodDelete, path: b.collection, operationID: "delete" + b.idGV + "Collection" + b.scope + kind.Kind,
				description: "delete collection of " + kind.Kind, params: join(b.collParams, deleteCollectionParams, bodyParam(false)),
				body: deleteOptionsModel, produces: objectMediaTypes,
				responses: responses(statusModel, http.StatusOK)}, "deletecollection", kind)
		default:
			return fmt.Errorf("unknown verb %q", verb)
		}
	}
	return nil
}

func (b *resourceRouter) addSubresource(s Subresource) error {
	kind := b.res.GroupVersionKind
	subKind := s.GroupVersionKind
	if subKind.Empty() {
		subKind = kind
	}
	model, err := modelOf(subKind)
	if err != nil {
		return err
	}
	if s.Name == "" || strings.Contains(s.Name, "/") {
		return fmt.Errorf("invalid subresource name %q", s.Name)
	}
	path := b.item + "/" + s.Name
	id := b.idGV + b.scope + kind.Kind + toValidOperationID(s.Name, true)
	for _, verb := range s.Verbs {
		switch verb {
		case "get":
			rt := &route{method: http.MethodGet, path: path, operationID: "read" + id,
				description: "read " + s.Name + " of the specified " + kind.Kind, params: b.itemParams,
				produces: objectMediaTypes, responses: responses(model, http.StatusOK)}
			if s.Options != nil {
				rt.params = join(b.itemParams, optionParams(s.Options))
				rt.produces, rt.responses = textMediaTypes, responses(textModel, http.StatusOK)
			}
			b.add(rt, "get", subKind)
		case "update":
			b.add(&route{method: http.MethodPut, path: path, operationID: "replace" + id,
				description: "replace " + s.Name + " of the specified " + kind.Kind, params: join(b.itemParams, updateParams, bodyParam(true)),
				body: model, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated)}, "put", subKind)
		case "patch":
			b.add(&route{method: http.MethodPatch, path: path, operationID: "patch" + id,
				description: "partially update " + s.Name + " of the specified " + kind.Kind, params: join(b.itemParams, patchParams, bodyParam(true)),
				body: patchModel, consumes: patchMediaTypes, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated)}, "patch", subKind)
		case "create":
			b.add(&route{method: http.MethodPost, path: path, operationID: "create" + id,
				description: "create " + s.Name + " of a " + kind.Kind, params: join(b.itemParams, createParams, bodyParam(true)),
				body: model, produces: objectMediaTypes,
				responses: responses(model, http.StatusOK, http.StatusCreated, http.StatusAccepted)}, "post", subKind)
		default:
			return fmt.Errorf("unknown verb %q", verb)
		}
	}
	return nil
}

// join concatenates parameter lists into a new slice.
func join(lists ...[]common.Parameter) []common.Parameter {
	return slices.Concat(lists...)
}
