package rollout

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/text"
)

// EventType names a step of a deploy.
type EventType string

// Event types, in the order a deploy can emit them.
const (
	// EventStarted: the deploy of one controller began; Message says what will happen.
	EventStarted EventType = "started"
	// EventResumed: an interrupted update was found and is being continued.
	EventResumed EventType = "resumed"
	// EventNotice: a setting was adjusted (e.g. maxSurge 0 for a hostPort
	// template), or the wait lost the API server or reached it again.
	EventNotice EventType = "notice"
	// EventStep: the updater changed something (created, labelled, scaled, deleted, renamed).
	EventStep EventType = "step"
	// EventProgress: pod counts changed.
	EventProgress EventType = "progress"
	// EventPaused: the update stopped at its canary, as asked.
	EventPaused EventType = "paused"
	// EventDone: the controller reached its desired state.
	EventDone EventType = "done"
	// EventFailed: the update failed; a rollback may follow.
	EventFailed EventType = "failed"
	// EventRollingBack: the previous pods are being restored.
	EventRollingBack EventType = "rolling back"
	// EventRolledBack: the previous pods are back and the new controller is gone.
	EventRolledBack EventType = "rolled back"
)

// Event reports one step of a deploy.
type Event struct {
	Time time.Time `json:"time"`
	Type EventType `json:"type"`
	// App is the app the controller belongs to, when a deploy of several
	// apps reports it.
	App       string `json:"app,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	// Name is the controller's name as the user knows it.
	Name string `json:"name"`
	// Controller is the controller the step acted on, when it differs from Name.
	Controller string `json:"controller,omitempty"`
	Message    string `json:"message,omitempty"`
	// Desired is the number of pods wanted on the new template.
	Desired int32 `json:"desired"`
	// Updated is the number of pods on the new template.
	Updated int32 `json:"updated"`
	// Ready is the number of available pods on the new template.
	Ready int32 `json:"ready"`
	// Serving is the number of available pods, of either template.
	Serving int32 `json:"serving"`
	// Old is the number of pods still on the previous template.
	Old int32 `json:"old"`
}

// EventFunc receives events; it is called synchronously and must return quickly.
type EventFunc func(Event)

// connectionEvent tells that the watches lost the API server, or reach it
// again: a wait that seems to hang says why, and a step that took long
// says why afterwards.
func connectionEvent(o watcher.Outage) Event {
	// The URL of the request says nothing the user needs.
	cause := o.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	if o.Until.IsZero() {
		return Event{Type: EventNotice, Message: fmt.Sprintf("cannot reach the API server (%v); the update holds where it is until it answers", cause)}
	}
	return Event{Type: EventNotice, Message: fmt.Sprintf("the API server answers again after %s out of reach (%v)", o.Until.Sub(o.Since).Round(100*time.Millisecond), cause)}
}

// ProgressMessage says in one sentence how an update stands: the pods
// wanted, the pods that serve and how many of them run the new template,
// the new pods still starting, and the old pods left to replace. During a
// surge more pods serve than are wanted; the sentence says so without a
// count of the form "5 of 4".
func ProgressMessage(e Event) string {
	msg := fmt.Sprintf("%d wanted: %d ready (%d new, %d old)", e.Desired, e.Serving, e.Ready, max(0, e.Serving-e.Ready))
	if starting := e.Updated - e.Ready; starting > 0 {
		msg += fmt.Sprintf(", %d new starting", starting)
	}
	if e.Old == 0 {
		return msg + ", no old pod left"
	}
	return msg + ", " + text.Count(e.Old, "old pod") + " to replace"
}
