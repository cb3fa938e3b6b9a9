package snapshot

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Resources is an amount of the resources the scheduler accounts for. The
// pod count is kept apart (NodeInfo.AllowedPods, NodeInfo.NumPods).
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Scalar holds extended resources (vendor.example/gpu) and huge pages;
	// nil when there are none, which is the common case.
	Scalar map[v1.ResourceName]int64
}

// ResourcesFromList converts a ResourceList (node allocatable or pod
// requests) to Resources.
func ResourcesFromList(rl v1.ResourceList) Resources {
	var r Resources
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case v1.ResourceMemory:
			r.Memory = q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		default:
			if isScalar(name) {
				if r.Scalar == nil {
					r.Scalar = map[v1.ResourceName]int64{}
				}
				r.Scalar[name] = q.Value()
			}
		}
	}
	return r
}

// isScalar tells whether a resource name is an extended resource or huge
// pages, the resources besides cpu, memory, ephemeral-storage and pods that a
// node advertises and a pod may request.
func isScalar(name v1.ResourceName) bool {
	s := string(name)
	return strings.HasPrefix(s, v1.ResourceHugePagesPrefix) ||
		(strings.Contains(s, "/") && !strings.HasPrefix(s, v1.ResourceDefaultNamespacePrefix))
}

// Add adds o to r.
func (r *Resources) Add(o Resources) { r.addScaled(o, 1) }

// Sub subtracts o from r.
func (r *Resources) Sub(o Resources) { r.addScaled(o, -1) }

func (r *Resources) addScaled(o Resources, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	if len(o.Scalar) == 0 {
		return
	}
	if r.Scalar == nil {
		r.Scalar = make(map[v1.ResourceName]int64, len(o.Scalar))
	}
	for k, v := range o.Scalar {
		r.Scalar[k] += sign * v
		if r.Scalar[k] == 0 {
			delete(r.Scalar, k)
		}
	}
}

// Clone returns a copy of r that shares nothing with it.
func (r Resources) Clone() Resources {
	if r.Scalar != nil {
		m := make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			m[k] = v
		}
		r.Scalar = m
	}
	return r
}
