// Package deploymentbench measures how long a Deployment takes to roll
// out and to roll over to a new template on a running cluster (the
// deployment and replicaset controllers, a scheduler and nodes, real or
// simulated). `go test -bench Rollover` in package deployment and the
// skiff-bench harness call Rollover.
package deploymentbench

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Config describes the Deployment measured; zero fields take defaults.
type Config struct {
	// Namespace to work in; created if missing (default "rollover").
	Namespace string
	// Name of the Deployment (default "rollover"); it is deleted first if
	// it exists.
	Name string
	// Replicas (default 100).
	Replicas int32
	// MaxSurge and MaxUnavailable of the rolling update (default 25%
	// each, Kubernetes' defaults).
	MaxSurge, MaxUnavailable *intstr.IntOrString
	// MinReadySeconds of the Deployment (default 0).
	MinReadySeconds int32
	// Timeout for each phase (default 5 minutes).
	Timeout time.Duration
	// Keep leaves the Deployment and its pods in place when Rollover
	// returns; Cleanup removes them.
	Keep bool
}

// Result is what one measurement took.
type Result struct {
	// RolledOut is from creating the Deployment until kubectl rollout
	// status would report it rolled out.
	RolledOut time.Duration
	// RolledOver is from changing its pod template until the new
	// ReplicaSet has every replica available and no old pod is left.
	RolledOver time.Duration
}

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "rollover"
	}
	if c.Name == "" {
		c.Name = "rollover"
	}
	if c.Replicas == 0 {
		c.Replicas = 100
	}
	if c.MaxSurge == nil {
		c.MaxSurge = ptr.To(intstr.FromString("25%"))
	}
	if c.MaxUnavailable == nil {
		c.MaxUnavailable = ptr.To(intstr.FromString("25%"))
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	return c
}

// Rollover creates a Deployment of cfg.Replicas pods, waits until it is
// rolled out, changes its image and waits until the rollover is done, then
// deletes it unless cfg.Keep. It returns the two times.
func Rollover(ctx context.Context, client kubernetes.Interface, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	deps := client.AppsV1().Deployments(cfg.Namespace)
	if err := prepare(ctx, client, cfg); err != nil {
		return Result{}, err
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: cfg.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas:        ptr.To(cfg.Replicas),
			MinReadySeconds: cfg.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": cfg.Name}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: cfg.MaxSurge, MaxUnavailable: cfg.MaxUnavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": cfg.Name}},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "app", Image: "rollover:v1"}},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
				},
			},
		},
	}
	var res Result
	start := time.Now()
	if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("create deployment: %w", err)
	}
	if err := waitRolledOut(ctx, client, cfg); err != nil {
		return res, fmt.Errorf("roll out: %w", err)
	}
	res.RolledOut = time.Since(start)

	start = time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"rollover:v2"}]}}}}`)
	if _, err := deps.Patch(ctx, cfg.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return res, fmt.Errorf("change image: %w", err)
	}
	if err := waitRolledOut(ctx, client, cfg); err != nil {
		return res, fmt.Errorf("roll over: %w", err)
	}
	res.RolledOver = time.Since(start)
	if cfg.Keep {
		return res, nil
	}
	return res, Cleanup(ctx, client, cfg)
}

// prepare makes the namespace (with the default service account pods
// need) and removes what an earlier run left.
func prepare(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace: %w", err)
	}
	_, err = client.CoreV1().ServiceAccounts(cfg.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account: %w", err)
	}
	return Cleanup(ctx, client, cfg)
}

// Cleanup deletes the Deployment of cfg, its ReplicaSets and its pods and
// waits until the pods are gone (no garbage collector is assumed).
func Cleanup(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	cfg = cfg.withDefaults()
	sel := metav1.ListOptions{LabelSelector: "app=" + cfg.Name}
	if err := client.AppsV1().Deployments(cfg.Namespace).Delete(ctx, cfg.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete deployment: %w", err)
	}
	if err := client.AppsV1().ReplicaSets(cfg.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete replica sets: %w", err)
	}
	if err := client.CoreV1().Pods(cfg.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete pods: %w", err)
	}
	return poll(ctx, cfg.Timeout, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(cfg.Namespace).List(ctx, sel)
		return err == nil && len(pods.Items) == 0, err
	})
}

// waitRolledOut waits until the Deployment is rolled out as kubectl
// rollout status decides it.
func waitRolledOut(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	return poll(ctx, cfg.Timeout, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := d.Status
		return d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == *d.Spec.Replicas &&
			s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas, nil
	})
}

// poll calls cond every 20ms until it is true, it fails, or timeout.
func poll(ctx context.Context, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, cond)
	if wait.Interrupted(err) {
		return fmt.Errorf("not done after %v: %w", timeout, err)
	}
	return err
}
