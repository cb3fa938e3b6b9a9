package statefulset

import (
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// podNameRE splits a stateful pod's name into its set's name and its
// ordinal.
var podNameRE = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// parentAndOrdinal returns the set a pod's name says it belongs to and
// its ordinal (-1 when the name has none).
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRE.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", -1
	}
	ord, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(ord)
}

func ordinal(pod *corev1.Pod) int {
	_, ord := parentAndOrdinal(pod)
	return ord
}

func podName(set *appsv1.StatefulSet, ord int) string {
	return set.Name + "-" + strconv.Itoa(ord)
}

// startOrdinal is the first ordinal of set (spec.ordinals.start).
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// newPod returns set's pod with ordinal ord, made from set's template.
func newPod(set *appsv1.StatefulSet, ord int) *corev1.Pod {
	pod := controllerutil.PodFromTemplate(&set.Spec.Template, set, metav1.NewControllerRef(set, controllerKind))
	pod.Name = podName(set, ord)
	setIdentity(set, pod, ord)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	return pod
}

// newVersionedPod returns the pod with ordinal ord at the revision it
// should have: the current one below the partition, else the update one.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRev, updateRev string, ord int) *corev1.Pod {
	if currentSet.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		ru := currentSet.Spec.UpdateStrategy.RollingUpdate
		if (ru == nil && ord < startOrdinal(currentSet)+int(currentSet.Status.CurrentReplicas)) ||
			(ru != nil && ru.Partition != nil && ord < startOrdinal(currentSet)+int(*ru.Partition)) {
			pod := newPod(currentSet, ord)
			setRevision(pod, currentRev)
			return pod
		}
	}
	pod := newPod(updateSet, ord)
	setRevision(pod, updateRev)
	return pod
}

// setIdentity gives pod its stable identity labels.
func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod, ord int) {
	pod.Namespace = set.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ord)
}

// identityMatches reports whether pod has its identity in set.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := parentAndOrdinal(pod)
	return ord >= 0 && parent == set.Name && pod.Name == podName(set, ord) && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name && pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(ord)
}

func setRevision(pod *corev1.Pod, rev string) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetRevisionLabel] = rev
}

func podRevision(pod *corev1.Pod) string { return pod.Labels[appsv1.StatefulSetRevisionLabel] }

// isCreated: the pod exists in the API (it has a phase).
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && controllerutil.IsPodReady(pod)
}

func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }

func isAvailable(set *appsv1.StatefulSet, pod *corev1.Pod, now time.Time) bool {
	return pod.Status.Phase == corev1.PodRunning && controllerutil.IsPodAvailable(pod, set.Spec.MinReadySeconds, now)
}
