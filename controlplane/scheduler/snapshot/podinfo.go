package snapshot

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Default requests that scoring assumes for a container that states none,
// as kube-scheduler does, so that request-less pods still spread.
const (
	DefaultMilliCPURequest = 100
	DefaultMemoryRequest   = 200 * 1024 * 1024
)

var nonZeroDefaults = v1.ResourceList{
	v1.ResourceCPU:    *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI),
	v1.ResourceMemory: *resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI),
}

// HostPort is one host port a pod asks for.
type HostPort struct {
	Protocol v1.Protocol
	IP       string // "0.0.0.0" for all addresses
	Port     int32
}

// Conflicts tells whether two host ports cannot be used at once: same
// protocol and port, and the same address or either on every address.
func (p HostPort) Conflicts(o HostPort) bool {
	return p.Port == o.Port && p.Protocol == o.Protocol &&
		(p.IP == o.IP || p.IP == anyIP || o.IP == anyIP)
}

const anyIP = "0.0.0.0"

// AffinityTerm is a parsed pod (anti-)affinity term: the pods it selects
// and the topology key whose domains it speaks about.
type AffinityTerm struct {
	// Namespaces lists the namespaces named by the term, or the owning
	// pod's namespace when the term names none and has no selector.
	Namespaces map[string]struct{}
	// NamespaceSelector selects further namespaces by label; nil selects
	// none, an empty selector selects every namespace.
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
}

// Matches tells whether the pod p, in a namespace labelled nsLabels, is
// selected by the term.
func (t *AffinityTerm) Matches(p *PodInfo, nsLabels labels.Set) bool {
	return t.MatchesNamespace(p.Pod.Namespace, nsLabels) && t.Selector.Matches(labels.Set(p.Pod.Labels))
}

// MatchesNamespace tells whether pods of namespace ns (labelled nsLabels)
// are in the term's scope.
func (t *AffinityTerm) MatchesNamespace(ns string, nsLabels labels.Set) bool {
	if _, ok := t.Namespaces[ns]; ok {
		return true
	}
	return t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)
}

// WeightedAffinityTerm is a preferred (anti-)affinity term and its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is what the scheduler derives from a pod once: its requests,
// host ports, owner, priority and parsed affinity terms. It is immutable
// and shared between the queue, the pipeline and the snapshot.
type PodInfo struct {
	Pod *v1.Pod
	// Requests is what the pod asks for (init containers, sidecars,
	// overhead and pod-level resources included); the filter uses it.
	Requests Resources
	// NonZero is Requests with DefaultMilliCPURequest and
	// DefaultMemoryRequest for containers that ask for nothing; scores use
	// it.
	NonZero   Resources
	HostPorts []HostPort
	// Owner is the UID of the controller owning the pod, if any.
	Owner    types.UID
	Priority int32

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []WeightedAffinityTerm
	PreferredAntiAffinity []WeightedAffinityTerm
}

// NewPodInfo derives a PodInfo from pod, which must not be changed
// afterwards. It fails on label selectors that do not parse.
func NewPodInfo(pod *v1.Pod) (*PodInfo, error) {
	pi := &PodInfo{
		Pod:      pod,
		Requests: ResourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})),
		NonZero: ResourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
			NonMissingContainerRequests: nonZeroDefaults,
		})),
		HostPorts: hostPorts(pod),
		Priority:  corev1helpers.PodPriority(pod),
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		pi.Owner = ref.UID
	}
	a := pod.Spec.Affinity
	if a == nil {
		return pi, nil
	}
	var err error
	if pa := a.PodAffinity; pa != nil {
		if pi.RequiredAffinity, err = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, fmt.Errorf("pod affinity: %w", err)
		}
		if pi.PreferredAffinity, err = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, fmt.Errorf("preferred pod affinity: %w", err)
		}
	}
	if paa := a.PodAntiAffinity; paa != nil {
		if pi.RequiredAntiAffinity, err = affinityTerms(pod, paa.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, fmt.Errorf("pod anti-affinity: %w", err)
		}
		if pi.PreferredAntiAffinity, err = weightedTerms(pod, paa.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, fmt.Errorf("preferred pod anti-affinity: %w", err)
		}
	}
	return pi, nil
}

func hostPorts(pod *v1.Pod) []HostPort {
	var out []HostPort
	add := func(cs []v1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := HostPort{Protocol: p.Protocol, IP: p.HostIP, Port: p.HostPort}
				if hp.Protocol == "" {
					hp.Protocol = v1.ProtocolTCP
				}
				if hp.IP == "" {
					hp.IP = anyIP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

func affinityTerms(pod *v1.Pod, terms []v1.PodAffinityTerm) ([]AffinityTerm, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func weightedTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm) ([]WeightedAffinityTerm, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out, nil
}

// NewAffinityTerm parses one pod affinity term of pod: its label selector
// with matchLabelKeys and mismatchLabelKeys folded in from the pod's own
// labels, and its namespaces.
func NewAffinityTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := SelectorWithLabelKeys(t.LabelSelector, pod.Labels, t.MatchLabelKeys, t.MismatchLabelKeys)
	if err != nil {
		return AffinityTerm{}, err
	}
	at := AffinityTerm{Selector: sel, TopologyKey: t.TopologyKey, Namespaces: map[string]struct{}{}}
	for _, ns := range t.Namespaces {
		at.Namespaces[ns] = struct{}{}
	}
	if t.NamespaceSelector != nil {
		if at.NamespaceSelector, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
			return AffinityTerm{}, fmt.Errorf("namespace selector: %w", err)
		}
	} else if len(t.Namespaces) == 0 {
		at.Namespaces[pod.Namespace] = struct{}{}
	}
	return at, nil
}

// SelectorWithLabelKeys converts a label selector (nil selects nothing) and
// adds, for each of matchKeys the pod carries, "key in (value)" and for
// each of mismatchKeys "key notin (value)" with the pod's own value.
func SelectorWithLabelKeys(ls *metav1.LabelSelector, podLabels map[string]string, matchKeys, mismatchKeys []string) (labels.Selector, error) {
	if ls == nil {
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("label selector: %w", err)
	}
	add := func(keys []string, op selection.Operator) error {
		for _, k := range keys {
			v, ok := podLabels[k]
			if !ok {
				continue
			}
			r, err := labels.NewRequirement(k, op, []string{v})
			if err != nil {
				return fmt.Errorf("label key %q: %w", k, err)
			}
			sel = sel.Add(*r)
		}
		return nil
	}
	if err := add(matchKeys, selection.In); err != nil {
		return nil, err
	}
	if err := add(mismatchKeys, selection.NotIn); err != nil {
		return nil, err
	}
	return sel, nil
}
