package podautoscaler

import (
	"math"
	"slices"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

// Defaults of autoscaling/v2 behavior, as Kubernetes has them.
var (
	defaultScaleUp = autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](0),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		},
	}
	defaultScaleDown = autoscalingv2.HPAScalingRules{
		SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
)

// rules returns the HPA's scaling rules for one direction, defaults
// filled in; downWindow is the default scale-down stabilization window.
func rules(set *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules, window int32) autoscalingv2.HPAScalingRules {
	r := *def.DeepCopy()
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = &window
	}
	if set == nil {
		return r
	}
	if set.StabilizationWindowSeconds != nil {
		r.StabilizationWindowSeconds = set.StabilizationWindowSeconds
	}
	if set.SelectPolicy != nil {
		r.SelectPolicy = set.SelectPolicy
	}
	if len(set.Policies) > 0 {
		r.Policies = set.Policies
	}
	r.Tolerance = set.Tolerance
	return r
}

type recommendation struct {
	at       time.Time
	replicas int32
}

type scaleEvent struct {
	at     time.Time
	change int32
}

// history remembers, per HPA, recent recommendations (for stabilization)
// and scale changes (for rate policies). It is lost on restart, like
// Kubernetes', which then starts from the current scale.
type history struct {
	mu              sync.Mutex
	recommendations map[string][]recommendation
	ups, downs      map[string][]scaleEvent
}

func newHistory() *history {
	return &history{recommendations: map[string][]recommendation{}, ups: map[string][]scaleEvent{}, downs: map[string][]scaleEvent{}}
}

func (h *history) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recommendations, key)
	delete(h.ups, key)
	delete(h.downs, key)
}

// stabilize records desired and returns the recommendation the
// stabilization windows allow: never above the lowest recommendation of
// the scale-up window, never below the highest of the scale-down window.
func (h *history) stabilize(key string, now time.Time, current, desired int32, up, down autoscalingv2.HPAScalingRules) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, seen := h.recommendations[key]; !seen {
		// A fresh controller treats the current scale as recommended just
		// now, so that it never scales down before a window has passed.
		h.recommendations[key] = []recommendation{{at: now, replicas: current}}
	}
	upRec, downRec := desired, desired
	upCut := now.Add(-time.Duration(*up.StabilizationWindowSeconds) * time.Second)
	downCut := now.Add(-time.Duration(*down.StabilizationWindowSeconds) * time.Second)
	longest := upCut
	if downCut.Before(longest) {
		longest = downCut
	}
	kept := h.recommendations[key][:0]
	for _, r := range h.recommendations[key] {
		if r.at.After(upCut) {
			upRec = min(upRec, r.replicas)
		}
		if r.at.After(downCut) {
			downRec = max(downRec, r.replicas)
		}
		if r.at.After(longest) {
			kept = append(kept, r)
		}
	}
	h.recommendations[key] = append(kept, recommendation{at: now, replicas: desired})
	out := current
	out = max(out, upRec)
	out = min(out, downRec)
	switch {
	case out == desired:
		return out, "ReadyForNewScale", "recommended size matches current size"
	case out < desired:
		return out, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	default:
		return out, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
	}
}

// limit applies the rate policies and the min/max bounds to desired.
func (h *history) limit(key string, now time.Time, current, desired, minReplicas, maxReplicas int32, up, down autoscalingv2.HPAScalingRules) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case desired > current:
		allowed := max(current, scaleUpLimit(current, changedWithin(h.ups[key], now), up))
		reason, msg := "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		if maxReplicas <= allowed {
			allowed = maxReplicas
			reason, msg = "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		}
		if desired > allowed {
			return allowed, reason, msg
		}
	case desired < current:
		allowed := min(current, scaleDownLimit(current, changedWithin(h.downs[key], now), down))
		reason, msg := "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		if minReplicas >= allowed {
			allowed = minReplicas
			reason, msg = "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		}
		if desired < allowed {
			return allowed, reason, msg
		}
	default:
		if desired > maxReplicas {
			return maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		}
		if desired < minReplicas {
			return minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// maxPolicyPeriod is the longest period a scaling policy may have.
const maxPolicyPeriod = 30 * time.Minute

// record remembers a scale change, forgetting those no policy looks at.
func (h *history) record(key string, now time.Time, from, to int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range []map[string][]scaleEvent{h.ups, h.downs} {
		m[key] = slices.DeleteFunc(m[key], func(e scaleEvent) bool { return now.Sub(e.at) > maxPolicyPeriod })
	}
	if to > from {
		h.ups[key] = append(h.ups[key], scaleEvent{at: now, change: to - from})
	} else if to < from {
		h.downs[key] = append(h.downs[key], scaleEvent{at: now, change: from - to})
	}
}

// changedWithin returns, per policy period, how much the scale moved in
// that period before now.
func changedWithin(events []scaleEvent, now time.Time) func(period int32) int32 {
	return func(period int32) int32 {
		cut := now.Add(-time.Duration(period) * time.Second)
		var n int32
		for _, e := range events {
			if e.at.After(cut) {
				n += e.change
			}
		}
		return n
	}
}

func scaleUpLimit(current int32, added func(int32) int32, r autoscalingv2.HPAScalingRules) int32 {
	if *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick, result := maxInt32, int32(math.MinInt32)
	if *r.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = minInt32, math.MaxInt32
	}
	for _, p := range r.Policies {
		start := current - added(p.PeriodSeconds)
		proposed := start + p.Value
		if p.Type == autoscalingv2.PercentScalingPolicy {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

func scaleDownLimit(current int32, removed func(int32) int32, r autoscalingv2.HPAScalingRules) int32 {
	if *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick, result := minInt32, int32(math.MaxInt32)
	if *r.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = maxInt32, math.MinInt32
	}
	for _, p := range r.Policies {
		start := current + removed(p.PeriodSeconds)
		proposed := start - p.Value
		if p.Type == autoscalingv2.PercentScalingPolicy {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

func minInt32(a, b int32) int32 { return min(a, b) }
func maxInt32(a, b int32) int32 { return max(a, b) }
