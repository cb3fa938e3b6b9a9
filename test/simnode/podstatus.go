package simnode

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setRunning gives a pending pod the status a kubelet reports once its
// containers run: phase Running, addresses, conditions and container
// statuses.
func setRunning(pod *corev1.Pod, hostIP, podIP netip.Addr, now metav1.Time, ready bool) {
	st := &pod.Status
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = hostIP.String(), []corev1.HostIP{{IP: hostIP.String()}}
	st.PodIP, st.PodIPs = podIP.String(), []corev1.PodIP{{IP: podIP.String()}}
	st.StartTime = &now
	st.Reason, st.Message = "", ""
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized} {
		setCondition(pod, t, corev1.ConditionTrue, "", now)
	}
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(pod, c, false)
		cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := containerStatus(pod, c, ready)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	setReady(pod, ready, now)
}

func containerStatus(pod *corev1.Pod, c corev1.Container, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image,
		ContainerID: fmt.Sprintf("sim://%s-%s", pod.UID, c.Name),
		Ready:       ready, Started: ptr(true),
	}
}

// setReady sets the Ready and ContainersReady conditions and the
// containers' readiness.
func setReady(pod *corev1.Pod, ready bool, now metav1.Time) {
	status, reason := corev1.ConditionTrue, ""
	if !ready {
		status, reason = corev1.ConditionFalse, "ContainersNotReady"
	}
	setCondition(pod, corev1.ContainersReady, status, reason, now)
	setCondition(pod, corev1.PodReady, status, reason, now)
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].Ready = ready
	}
}

// setFinished ends a pod whose containers exited with code: Succeeded for
// 0, else Failed.
func setFinished(pod *corev1.Pod, code int32, now metav1.Time) {
	pod.Status.Phase = corev1.PodFailed
	if code == 0 {
		pod.Status.Phase = corev1.PodSucceeded
	}
	for i := range pod.Status.ContainerStatuses {
		cs := &pod.Status.ContainerStatuses[i]
		cs.State = corev1.ContainerState{Terminated: terminated(cs, code, now)}
		cs.Ready, cs.Started = false, ptr(false)
	}
	setCondition(pod, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted", now)
	setCondition(pod, corev1.PodReady, corev1.ConditionFalse, "PodCompleted", now)
}

// setRestarted records that the containers exited with code and were
// started again.
func setRestarted(pod *corev1.Pod, code int32, now metav1.Time, ready bool) {
	for i := range pod.Status.ContainerStatuses {
		cs := &pod.Status.ContainerStatuses[i]
		cs.LastTerminationState = corev1.ContainerState{Terminated: terminated(cs, code, now)}
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		cs.RestartCount++
	}
	setReady(pod, ready, now)
}

func terminated(cs *corev1.ContainerStatus, code int32, now metav1.Time) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Completed", FinishedAt: now, ContainerID: cs.ContainerID}
	if code != 0 {
		t.Reason = "Error"
	}
	if r := cs.State.Running; r != nil {
		t.StartedAt = r.StartedAt
	}
	return t
}

// setCondition sets a pod condition, keeping its transition time when its
// status does not change.
func setCondition(pod *corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus, reason string, now metav1.Time) {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != s {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = s, reason, ""
		return
	}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now})
}
