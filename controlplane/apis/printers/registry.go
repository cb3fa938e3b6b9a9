package printers

import (
	"reflect"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// printer is the columns of one kind and the function that prints one
// object of it as a row (cells and conditions; ConvertToTable fills in the
// row's Object).
type printer struct {
	columns []metav1.TableColumnDefinition
	row     func(obj runtime.Object, now time.Time) (metav1.TableRow, error)
}

// registry maps the Go type of an object (a pointer to a k8s.io/api struct)
// to its printer. It is built once and never modified.
var registry = newRegistry()

func newRegistry() map[reflect.Type]printer {
	r := map[reflect.Type]printer{}
	// core/v1
	addRows(r, podColumns(), printPod)
	addCells(r, namespaceColumns(), printNamespace)
	addCells(r, nodeColumns(), printNode)
	addCells(r, serviceColumns(), printService)
	addCells(r, endpointsColumns(), printEndpoints)
	addCells(r, configMapColumns(), printConfigMap)
	addCells(r, secretColumns(), printSecret)
	addCells(r, eventColumns(), printEvent)
	addCells(r, serviceAccountColumns(), printServiceAccount)
	addCells(r, replicationControllerColumns(), printReplicationController)
	addCells(r, resourceQuotaColumns(), printResourceQuota)
	// apps/v1
	addCells(r, deploymentColumns(), printDeployment)
	addCells(r, replicaSetColumns(), printReplicaSet)
	addCells(r, statefulSetColumns(), printStatefulSet)
	addCells(r, daemonSetColumns(), printDaemonSet)
	addRows(r, controllerRevisionColumns(), printControllerRevision)
	// other groups
	addCells(r, jobColumns(), printJob)
	addCells(r, horizontalPodAutoscalerColumns(), printHorizontalPodAutoscaler)
	addCells(r, podDisruptionBudgetColumns(), printPodDisruptionBudget)
	addCells(r, endpointSliceColumns(), printEndpointSlice)
	addCells(r, leaseColumns(), printLease)
	addCells(r, priorityClassColumns(), printPriorityClass)
	addCells(r, scaleColumns(), printScale)
	// events.k8s.io/v1 Events are the same objects as core/v1 ones and
	// kube-apiserver prints them with the same columns.
	addCells(r, eventColumns(), printEventsV1Event)
	// LimitRange has no printer in Kubernetes: it gets the default table.
	return r
}

// addCells registers a printer whose rows are only cells.
func addCells[T runtime.Object](r map[reflect.Type]printer, cols []metav1.TableColumnDefinition, cells func(T, time.Time) []any) {
	r[reflect.TypeFor[T]()] = printer{
		columns: cols,
		row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
			return metav1.TableRow{Cells: cells(obj.(T), now)}, nil
		},
	}
}

// addRows registers a printer that builds whole rows (with conditions) or
// can fail.
func addRows[T runtime.Object](r map[reflect.Type]printer, cols []metav1.TableColumnDefinition, row func(T, time.Time) (metav1.TableRow, error)) {
	r[reflect.TypeFor[T]()] = printer{
		columns: cols,
		row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
			return row(obj.(T), now)
		},
	}
}
