package apiserver

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/apis/printers"
)

// watch streams events as chunked, framed metav1.WatchEvents until the
// client goes away, the timeout passes or the store ends the stream.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, q *Request) {
	lo, opts, err := listOptions(r, q)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	if opts.SendInitialEvents != nil {
		if !opts.AllowWatchBookmarks {
			q.WriteError(w, apierrors.NewBadRequest("sendInitialEvents requires allowWatchBookmarks=true"))
			return
		}
		if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			q.WriteError(w, apierrors.NewBadRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan"))
			return
		}
	} else if opts.ResourceVersionMatch != "" {
		q.WriteError(w, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is set"))
		return
	}
	stream := q.Media.info.StreamSerializer
	if stream == nil {
		q.WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("no streaming support for media type %q", q.Media.info.MediaType)))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		q.WriteError(w, apierrors.NewInternalError(fmt.Errorf("response writer cannot flush")))
		return
	}
	timeout := s.cfg.MinRequestTimeout + time.Duration(rand.Int64N(int64(s.cfg.MinRequestTimeout)))
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	watcher, err := q.Store.Watch(r.Context(), q.Namespace(), lo)
	if err != nil {
		q.WriteError(w, err)
		return
	}
	defer watcher.Stop()
	defer s.metrics.watchStarted(q.Info)()

	gv := q.GroupVersion()
	embedded := apis.Codecs.EncoderForVersion(q.Media.info.Serializer, gv)
	var tables *printers.WatchConverter
	if q.Media.table {
		// kubectl get -w: each event carries a Table of one row.
		tables = printers.NewWatchConverter(q.Media.tableOptions)
		embedded = apis.Codecs.EncoderForVersion(q.Media.info.Serializer, metav1.SchemeGroupVersion)
	}
	framer := stream.Framer.NewFrameWriter(w)
	outer := streaming.NewEncoder(framer, apis.Codecs.EncoderForVersion(stream.Serializer, gv))

	mediaType := q.Media.info.MediaType
	if mediaType != runtime.ContentTypeJSON {
		mediaType += ";stream=watch"
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return
		case <-timer.C:
			return
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				return
			}
			obj := ev.Object
			if tables != nil {
				if t, err := tables.Convert(obj); err == nil {
					obj = t
				} else {
					s.cfg.Logger.Warn("watch event as table", "resource", q.Info.Resource, "err", err)
				}
			}
			buf.Reset()
			if err := embedded.Encode(obj, &buf); err != nil {
				s.cfg.Logger.Error("encode watch event", "resource", q.Info.Resource, "err", err)
				return
			}
			out := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: buf.Bytes()}}
			if err := outer.Encode(out); err != nil {
				return
			}
			if len(watcher.ResultChan()) == 0 {
				flusher.Flush()
			}
			if ev.Type == watch.Error {
				return
			}
		}
	}
}
