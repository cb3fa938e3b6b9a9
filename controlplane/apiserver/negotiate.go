package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/munnerz/goautoneg"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/apis/printers"
)

// mediaType is a negotiated response format.
type mediaType struct {
	// info encodes the response; when the client asked for
	// PartialObjectMetadata(List), its serializers encode only metadata.
	info runtime.SerializerInfo
	// table is set when the client asked for a meta.k8s.io Table, printed
	// with tableOptions.
	table        bool
	tableOptions printers.Options
	// pretty asks for indented output.
	pretty bool
}

// negotiate picks the response serializer from the Accept header. Requests
// for representations skiff does not serve (aggregated discovery, say)
// fall through to the next acceptable type, as clients expect.
func negotiate(r *http.Request, allowTable bool) (mediaType, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "application/json"
	}
	pretty := r.URL.Query().Get("pretty") == "true"
	for _, clause := range goautoneg.ParseAccept(accept) {
		mt := clause.Type + "/" + clause.SubType
		if clause.Type == "*" {
			mt = "application/json"
		} else if clause.SubType == "*" && clause.Type == "application" {
			mt = "application/json"
		}
		info, ok := runtime.SerializerInfoForMediaType(apis.Codecs.SupportedMediaTypes(), mt)
		if !ok {
			continue
		}
		if as := clause.Params["as"]; as != "" {
			// Metadata only, in any format and for any verb, as
			// kube-apiserver serves it.
			if target, ok := partialTarget(clause.Params); ok {
				return mediaType{info: withPartial(info, target), pretty: pretty || clause.Params["pretty"] == "1"}, nil
			}
			// Tables are served as JSON (their rows hold Go objects).
			if as == "Table" && allowTable && clause.Params["g"] == "meta.k8s.io" && (clause.Params["v"] == "v1" || clause.Params["v"] == "v1beta1") &&
				info.MediaType != runtime.ContentTypeProtobuf {
				var opts metav1.TableOptions
				if err := parameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
					return mediaType{}, apierrors.NewBadRequest(err.Error())
				}
				return mediaType{info: info, table: true, pretty: pretty,
					tableOptions: printers.Options{NoHeaders: opts.NoHeaders, IncludeObject: opts.IncludeObject}}, nil
			}
			continue
		}
		return mediaType{info: info, pretty: pretty || clause.Params["pretty"] == "1"}, nil
	}
	return mediaType{}, notAcceptable(fmt.Sprintf("only the following media types are accepted: %s", strings.Join(supportedTypes(), ", ")))
}

// notAcceptable is the 406 of a representation skiff cannot give.
func notAcceptable(msg string) error {
	return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", msg, 0, false)
}

func supportedTypes() []string {
	var out []string
	for _, i := range apis.Codecs.SupportedMediaTypes() {
		out = append(out, i.MediaType)
	}
	return out
}

// requestSerializer picks the decoder for a request body from its
// Content-Type.
func requestSerializer(r *http.Request) (runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	info, ok := runtime.SerializerInfoForMediaType(apis.Codecs.SupportedMediaTypes(), mt)
	if !ok {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	return info, nil
}

// writeObject encodes obj for the client with apiVersion and kind of gv.
func writeObject(w http.ResponseWriter, mt mediaType, gv schema.GroupVersion, code int, obj runtime.Object) {
	s := mt.info.Serializer
	if mt.pretty && mt.info.PrettySerializer != nil {
		s = mt.info.PrettySerializer
	}
	enc := apis.Codecs.EncoderForVersion(s, gv)
	data, err := runtime.Encode(enc, obj)
	if err != nil {
		// A representation that does not fit the object (a
		// PartialObjectMetadata of a list) is the client's error.
		var st apierrors.APIStatus
		if !errors.As(err, &st) {
			err = apierrors.NewInternalError(fmt.Errorf("encode response: %w", err))
		}
		writeError(w, mt, err)
		return
	}
	w.Header().Set("Content-Type", mt.info.MediaType)
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeError writes err as a Kubernetes Status.
func writeError(w http.ResponseWriter, mt mediaType, err error) {
	st := errorToStatus(err)
	if mt.info.Serializer == nil {
		mt.info, _ = runtime.SerializerInfoForMediaType(apis.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	}
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if ra := st.Details; ra != nil && ra.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ra.RetryAfterSeconds))
	}
	writeObject(w, mt, metav1.Unversioned, code, st)
}

// errorToStatus converts any error into a Status; errors that are not API
// errors become 500s.
func errorToStatus(err error) *metav1.Status {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		st := s.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		return &st
	}
	st := apierrors.NewInternalError(err).ErrStatus
	return &st
}

func unsupportedMediaType(ct string) error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(supportedTypes(), ", ")), 0, false)
}
