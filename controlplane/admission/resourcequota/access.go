package resourcequota

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// quotas returns copies of the namespace's quotas: from the cache, or a
// live list when the cache has none, each replaced by the one this plugin
// wrote last if the cache has not caught up with it.
func (p *Plugin) quotas(ctx context.Context, ns string) ([]corev1.ResourceQuota, error) {
	items, err := p.cfg.Lister.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		items, err = p.live.List(ctx, ns, func(ctx context.Context) ([]*corev1.ResourceQuota, error) {
			list, err := p.cfg.Client.ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := make([]*corev1.ResourceQuota, len(list.Items))
			for i := range list.Items {
				out[i] = &list.Items[i]
			}
			return out, nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]corev1.ResourceQuota, len(items))
	for i, q := range items {
		p.latest(q).DeepCopyInto(&out[i])
	}
	return out, nil
}

// latest returns the newer of q and the copy this plugin wrote.
func (p *Plugin) latest(q *corev1.ResourceQuota) *corev1.ResourceQuota {
	key := q.Namespace + "/" + q.Name
	v, ok := p.updated.Get(key)
	if !ok {
		return q
	}
	mine := v.(*corev1.ResourceQuota)
	if mine.UID != q.UID || revision(q) >= revision(mine) {
		p.updated.Remove(key)
		return q
	}
	return mine
}

// revision is an object's resourceVersion as a number (etcd's revision).
func revision(q *corev1.ResourceQuota) uint64 {
	n, _ := strconv.ParseUint(q.ResourceVersion, 10, 64)
	return n
}

// updateStatus writes q's status if q is still the stored version and
// remembers the result.
func (p *Plugin) updateStatus(ctx context.Context, q *corev1.ResourceQuota) error {
	out, err := p.cfg.Client.ResourceQuotas(q.Namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	p.updated.Add(q.Namespace+"/"+q.Name, out)
	return nil
}

// reread reads quotas from the API, leaving out those deleted since.
func (p *Plugin) reread(ctx context.Context, quotas []corev1.ResourceQuota) ([]corev1.ResourceQuota, error) {
	var out []corev1.ResourceQuota
	for _, q := range quotas {
		fresh, err := p.cfg.Client.ResourceQuotas(q.Namespace).Get(ctx, q.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, *fresh)
	}
	return out, nil
}
