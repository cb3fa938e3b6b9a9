package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// InitialEventsAnnotation marks the bookmark that ends a watch's initial
// events (the streaming list client-go informers ask for).
const InitialEventsAnnotation = "k8s.io/initial-events-end"

// WatchOptions selects what Watch streams.
type WatchOptions struct {
	// ResourceVersion: "" or "0" starts with the current state as ADDED
	// events (unless SendInitialEvents is false); N streams the changes
	// after revision N (or, with SendInitialEvents, the state at N or later
	// first).
	ResourceVersion string
	// SendInitialEvents asks for the state first, ended by a bookmark
	// annotated with InitialEventsAnnotation.
	SendInitialEvents *bool
	// AllowBookmarks lets the watch send BOOKMARK events carrying the
	// latest revision when etcd reports progress.
	AllowBookmarks bool
	// Predicate filters the events; objects entering the selection come as
	// ADDED and objects leaving it as DELETED.
	Predicate Predicate
}

// Watch streams the changes under prefix (a single key when the prefix is a
// full key). The watch ends when ctx is done or Stop is called. When the
// start revision has been compacted, the stream sends one ERROR event with
// a 410 Expired status and ends.
func (s *Store) Watch(ctx context.Context, prefix string, opts WatchOptions) (watch.Interface, error) {
	rev, err := ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	initial := rev == 0
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		store:  s,
		prefix: prefix,
		opts:   opts,
		cancel: cancel,
		result: make(chan watch.Event, 100),
	}
	go w.run(ctx, rev, initial)
	return w, nil
}

type watcher struct {
	store  *Store
	prefix string
	opts   WatchOptions
	cancel context.CancelFunc
	once   sync.Once
	result chan watch.Event
}

// Stop ends the watch; ResultChan is closed soon after.
func (w *watcher) Stop() { w.once.Do(w.cancel) }

// ResultChan returns the event stream.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

func (w *watcher) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) sendError(ctx context.Context, err error) {
	var st metav1.Status
	switch {
	case errors.Is(err, ErrExpired):
		st = apierrors.NewResourceExpired(err.Error()).ErrStatus
	default:
		st = apierrors.NewInternalError(err).ErrStatus
	}
	w.send(ctx, watch.Event{Type: watch.Error, Object: &st})
}

func (w *watcher) run(ctx context.Context, rev int64, initial bool) {
	defer close(w.result)
	defer w.cancel()
	if initial {
		listRev, ok := w.sendInitial(ctx, rev)
		if !ok {
			return
		}
		rev = listRev
	} else if rev == 0 {
		cur, err := w.store.Revision(ctx)
		if err != nil {
			w.sendError(ctx, err)
			return
		}
		rev = cur
	}
	// Start at rev itself, not rev+1, skipping what it replays: etcd sends
	// progress notifications (our bookmarks) only to watchers whose start
	// is not ahead of its revision, so a watch from rev+1 on a quiet
	// cluster would never get one.
	start := rev
	if start == 0 {
		start = 1
	}
	wch := w.store.cfg.Client.Watch(clientv3.WithRequireLeader(ctx), w.prefix,
		clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 {
			if resp.CompactRevision == start+1 && start == rev {
				// rev itself is compacted but everything after it is
				// there: follow from rev+1.
				start = rev + 1
				wch = w.store.cfg.Client.Watch(clientv3.WithRequireLeader(ctx), w.prefix,
					clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
				continue
			}
			w.sendError(ctx, fmt.Errorf("%w: too old resource version: %d (%d)", ErrExpired, rev, resp.CompactRevision))
			return
		}
		if err := resp.Err(); err != nil {
			w.sendError(ctx, mapErr(err))
			return
		}
		if resp.IsProgressNotify() {
			if w.opts.AllowBookmarks && resp.Header.Revision >= rev && !w.sendBookmark(ctx, resp.Header.Revision, false) {
				return
			}
			continue
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision <= rev {
				continue // delivered before (or part of the initial state)
			}
			out, ok, err := w.transform(ev)
			if err != nil {
				w.sendError(ctx, err)
				return
			}
			if ok && !w.send(ctx, out) {
				return
			}
			rev = ev.Kv.ModRevision
		}
	}
}

// sendInitial sends the current state (at least as new as rev) as ADDED
// events, then the end-of-initial-events bookmark when asked for, and
// returns the revision the state was read at.
func (w *watcher) sendInitial(ctx context.Context, rev int64) (int64, bool) {
	opts := ListOptions{Predicate: w.opts.Predicate, Limit: 1000}
	if rev > 0 {
		opts.ResourceVersion = fmt.Sprint(rev)
	}
	var listRev int64
	for {
		list := w.store.cfg.NewListFunc()
		if err := w.store.List(ctx, w.prefix, opts, list); err != nil {
			w.sendError(ctx, err)
			return 0, false
		}
		lm, _ := meta.ListAccessor(list)
		listRev, _ = ParseResourceVersion(lm.GetResourceVersion())
		items, err := meta.ExtractList(list)
		if err != nil {
			w.sendError(ctx, err)
			return 0, false
		}
		for _, obj := range items {
			if !w.send(ctx, watch.Event{Type: watch.Added, Object: obj}) {
				return 0, false
			}
		}
		if lm.GetContinue() == "" {
			break
		}
		opts.Continue = lm.GetContinue()
		opts.ResourceVersion = ""
	}
	if w.opts.SendInitialEvents != nil && *w.opts.SendInitialEvents {
		if !w.sendBookmark(ctx, listRev, true) {
			return 0, false
		}
	}
	return listRev, true
}

func (w *watcher) sendBookmark(ctx context.Context, rev int64, initialEnd bool) bool {
	obj := w.store.cfg.NewFunc()
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	_ = setRV(obj, rev)
	if initialEnd {
		m.SetAnnotations(map[string]string{InitialEventsAnnotation: "true"})
	}
	return w.send(ctx, watch.Event{Type: watch.Bookmark, Object: obj})
}

// transform turns an etcd event into a watch event as seen through the
// predicate: entering the selection is ADDED, leaving it is DELETED.
func (w *watcher) transform(ev *clientv3.Event) (watch.Event, bool, error) {
	p := w.opts.Predicate
	var cur, prev runtime.Object
	var err error
	if ev.Type == clientv3.EventTypeDelete {
		if ev.PrevKv == nil {
			return watch.Event{}, false, nil
		}
		// A deleted object carries the revision of its deletion.
		if prev, err = w.store.decodeNew(ev.PrevKv.Value, ev.Kv.ModRevision); err != nil {
			return watch.Event{}, false, err
		}
		if !p.Matches(prev) {
			return watch.Event{}, false, nil
		}
		return watch.Event{Type: watch.Deleted, Object: prev}, true, nil
	}
	if cur, err = w.store.decodeNew(ev.Kv.Value, ev.Kv.ModRevision); err != nil {
		return watch.Event{}, false, err
	}
	curOK := p.Matches(cur)
	if ev.IsCreate() || ev.PrevKv == nil {
		return watch.Event{Type: watch.Added, Object: cur}, curOK, nil
	}
	prevOK := true
	if !p.Empty() {
		if prev, err = w.store.decodeNew(ev.PrevKv.Value, ev.Kv.ModRevision); err != nil {
			return watch.Event{}, false, err
		}
		prevOK = p.Matches(prev)
	}
	switch {
	case curOK && prevOK:
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	case curOK:
		return watch.Event{Type: watch.Added, Object: cur}, true, nil
	case prevOK:
		return watch.Event{Type: watch.Deleted, Object: prev}, true, nil
	}
	return watch.Event{}, false, nil
}
