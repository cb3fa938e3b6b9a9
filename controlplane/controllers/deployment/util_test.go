package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestResolveFenceposts(t *testing.T) {
	for _, c := range []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 10, 3, 2}, // surge rounds up, unavailable down
		{"0%", "1%", 2, 0, 1},    // both zero after rounding: one unavailable
		{"1%", "0%", 2, 1, 0},
		{"0", "0", 5, 0, 1},
		{"3", "2", 10, 3, 2},
	} {
		s, u := intstr.Parse(c.surge), intstr.Parse(c.unavailable)
		gotS, gotU, err := resolveFenceposts(&s, &u, c.desired)
		if err != nil || gotS != c.wantS || gotU != c.wantU {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", c.surge, c.unavailable, c.desired, gotS, gotU, err, c.wantS, c.wantU)
		}
	}
}

func deploymentWith(replicas int32, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
	}}
}

func rsOf(replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)}}
}

func TestNewRSNewReplicas(t *testing.T) {
	d := deploymentWith(10, "3", "0")
	newRS := rsOf(2)
	// 10 old + 2 new, surge 3: one more fits.
	if n, err := newRSNewReplicas(d, []*appsv1.ReplicaSet{rsOf(10), newRS}, newRS); err != nil || n != 3 {
		t.Errorf("got %d, %v; want 3", n, err)
	}
	// At the surge limit nothing grows.
	if n, _ := newRSNewReplicas(d, []*appsv1.ReplicaSet{rsOf(11), newRS}, newRS); n != 2 {
		t.Errorf("got %d at the surge limit, want 2", n)
	}
	// Never beyond the desired replicas.
	if n, _ := newRSNewReplicas(d, []*appsv1.ReplicaSet{rsOf(0), rsOf(9)}, rsOf(9)); n != 10 {
		t.Errorf("got %d, want 10", n)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if n, _ := newRSNewReplicas(d, nil, rsOf(0)); n != 10 {
		t.Errorf("recreate: got %d, want 10", n)
	}
}

// Rolling back to an old ReplicaSet gives it the next revision and keeps
// its old one in revision-history.
func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := deploymentWith(3, "1", "0")
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "undo", RevisionAnnotation: "9"}
	rs := rsOf(0)
	rs.Annotations = map[string]string{RevisionAnnotation: "1", RevisionHistoryAnnotation: ""}
	if !setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("no change reported")
	}
	if rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" ||
		rs.Annotations["kubernetes.io/change-cause"] != "undo" {
		t.Fatalf("annotations %v", rs.Annotations)
	}
	setNewReplicaSetAnnotations(d, rs, "5", true)
	if rs.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Fatalf("history %q, want 1,3", rs.Annotations[RevisionHistoryAnnotation])
	}
	// A lower revision never replaces a higher one.
	if setNewReplicaSetAnnotations(d, rs, "4", true) || rs.Annotations[RevisionAnnotation] != "5" {
		t.Fatalf("revision went back: %v", rs.Annotations)
	}
	// A new ReplicaSet gets the replicas annotations.
	fresh := rsOf(0)
	setNewReplicaSetAnnotations(d, fresh, "6", false)
	if fresh.Annotations[DesiredReplicasAnnotation] != "3" || fresh.Annotations[MaxReplicasAnnotation] != "4" {
		t.Fatalf("new replica set annotations %v", fresh.Annotations)
	}
}

func TestScaleProportions(t *testing.T) {
	d := deploymentWith(20, "3", "2")
	old, cur := rsOf(8), rsOf(5)
	for _, rs := range []*appsv1.ReplicaSet{old, cur} {
		rs.Annotations = map[string]string{MaxReplicasAnnotation: "13"}
	}
	// 23 allowed, 13 there: 10 to share, 8/13 and 5/13 of 23.
	pOld := proportion(old, d, 10, 0)
	pNew := proportion(cur, d, 10, pOld)
	if pOld != 6 || pNew != 4 {
		t.Fatalf("proportions %d, %d; want 6, 4", pOld, pNew)
	}
}

func TestFindNewReplicaSetIgnoresHash(t *testing.T) {
	d := deploymentWith(1, "1", "0")
	d.Spec.Template.Labels = map[string]string{"app": "web"}
	older := rsOf(1)
	older.Name, older.UID, older.CreationTimestamp = "older", "1", metav1.Unix(1, 0)
	older.Spec.Template.Labels = map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "abc"}
	newer := older.DeepCopy()
	newer.Name, newer.UID, newer.CreationTimestamp = "newer", "2", metav1.Unix(2, 0)
	other := rsOf(1)
	other.UID = "3"
	other.Spec.Template.Labels = map[string]string{"app": "db"}
	if got := findNewReplicaSet(d, []*appsv1.ReplicaSet{other, newer, older}); got != older {
		t.Fatalf("found %v, want the oldest matching", got)
	}
	if old := findOldReplicaSets(d, []*appsv1.ReplicaSet{other, older}); len(old) != 1 || old[0] != other {
		t.Fatalf("old = %v", old)
	}
}
