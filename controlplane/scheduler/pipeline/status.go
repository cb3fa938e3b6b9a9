package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// Plugin names, as kube-scheduler calls the same checks. They name the
// filters in a FitError and tell the queue which cluster events may help a
// pod that failed.
const (
	NodeUnschedulable  = "NodeUnschedulable"
	TaintToleration    = "TaintToleration"
	NodeAffinity       = "NodeAffinity"
	NodePorts          = "NodePorts"
	NodeResourcesFit   = "NodeResourcesFit"
	PodTopologySpread  = "PodTopologySpread"
	InterPodAffinity   = "InterPodAffinity"
	BalancedAllocation = "NodeResourcesBalancedAllocation"
	OwnerSpread        = "OwnerSpread"
	ObservedUsage      = "ObservedUsage"
)

// Reasons a filter gives, word for word those of kube-scheduler so that
// users and tools that read FailedScheduling events recognise them.
const (
	ReasonUnschedulable            = "node(s) were unschedulable"
	ReasonNodeAffinity             = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts                = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods              = "Too many pods"
	ReasonSpread                   = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel       = ReasonSpread + " (missing required label)"
	ReasonAffinityRules            = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityRules        = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity     = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonPreemptionNotHelpful     = "Preemption is not helpful for scheduling"
	ReasonNoPreemptionVictims      = "No preemption victims found for incoming pod"
	reasonInsufficientFmt          = "Insufficient %s"
	reasonUntoleratedTaintFmt      = "node(s) had untolerated taint {%s: %s}"
	noNodesAvailable               = "no nodes available to schedule pods"
	preemptionNotEligibleNever     = "preemption: not eligible due to preemptionPolicy=Never."
	preemptionNotEligibleNominated = "preemption: not eligible due to a terminating pod on the nominated node."
)

// Status is why one node failed one filter.
type Status struct {
	Plugin  string
	Reasons []string
	// Unresolvable is true when removing pods from the node cannot help
	// (a taint, a selector, a missing label): preemption skips such nodes.
	Unresolvable bool
}

func newStatus(plugin string, unresolvable bool, reasons ...string) *Status {
	return &Status{Plugin: plugin, Reasons: reasons, Unresolvable: unresolvable}
}

// NodeFailure is one node that a pod does not fit, and why.
type NodeFailure struct {
	Node   string
	Status *Status
}

// FitError says why a pod fits no node. Its message has kube-scheduler's
// format: "0/3 nodes are available: 1 node(s) didn't match Pod's node
// affinity/selector, 2 Insufficient cpu." with the reasons counted and
// sorted, and preemption's verdict appended when it ran.
type FitError struct {
	NumAllNodes int
	// Failures holds one entry per node, in the order they were checked.
	Failures []NodeFailure
	// PostFilterMsg is what preemption concluded, when it found nothing.
	PostFilterMsg string
}

// Error formats the message.
func (e *FitError) Error() string {
	if e.NumAllNodes == 0 {
		return noNodesAvailable
	}
	msg := fmt.Sprintf("0/%d nodes are available:", e.NumAllNodes)
	counts := map[string]int{}
	for _, f := range e.Failures {
		for _, r := range f.Status.Reasons {
			counts[r]++
		}
	}
	if h := histogram(counts); h != "" {
		msg += " " + h + "."
	}
	if e.PostFilterMsg != "" {
		msg += " " + e.PostFilterMsg
	}
	return msg
}

// histogram renders reason counts as kube-scheduler does: "N reason"
// entries sorted as strings and joined by ", ".
func histogram(counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Plugins returns the sorted names of the filters that rejected nodes:
// the scheduling queue retries the pod on events that may satisfy them.
func (e *FitError) Plugins() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range e.Failures {
		if !seen[f.Status.Plugin] {
			seen[f.Status.Plugin] = true
			out = append(out, f.Status.Plugin)
		}
	}
	sort.Strings(out)
	return out
}
