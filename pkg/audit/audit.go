// Package audit records who changed what through the plugin, and when, as
// annotations on the objects it writes and as Events, and reads those
// records back as a deploy history.
package audit

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// FieldManager names the plugin in the managed fields of what it writes.
const FieldManager = "kubectl-envops"

// Annotations of the audit record.
const (
	DeployedBy  = "envops.io/deployed-by"
	DeployedAt  = "envops.io/deployed-at"
	Environment = "envops.io/environment"
	Image       = "envops.io/image"
	ChangeCause = "envops.io/change-cause"
	// KubeChangeCause is the annotation "kubectl rollout history" shows.
	KubeChangeCause = "kubernetes.io/change-cause"
	// RequestedImage is the image a deploy was given with --image, "" when
	// it deployed the overlay's own: status renders the overlay with it, so
	// that a promoted image is not taken for drift.
	RequestedImage = "envops.io/requested-image"
)

// Keys are the annotations a Record writes.
var Keys = []string{DeployedBy, DeployedAt, Environment, Image, ChangeCause, KubeChangeCause}

// Record is who changed an object, when, and why.
type Record struct {
	User        string    `json:"user"`
	Time        time.Time `json:"time"`
	Environment string    `json:"environment,omitempty"`
	Image       string    `json:"image,omitempty"`
	Cause       string    `json:"cause,omitempty"`
}

// Annotations renders the record; empty fields are left out.
func (r Record) Annotations() map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(DeployedBy, r.User)
	if !r.Time.IsZero() {
		out[DeployedAt] = r.Time.UTC().Format(time.RFC3339)
	}
	set(Environment, r.Environment)
	set(Image, r.Image)
	set(ChangeCause, r.Cause)
	set(KubeChangeCause, r.Cause)
	return out
}

// Stamp adds the record's annotations to obj.
func (r Record) Stamp(obj metav1.Object) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range r.Annotations() {
		a[k] = v
	}
	obj.SetAnnotations(a)
}

// FromAnnotations reads a record back; ok is false when there is none.
func FromAnnotations(a map[string]string) (r Record, ok bool) {
	if a[DeployedBy] == "" && a[DeployedAt] == "" {
		return Record{}, false
	}
	r = Record{User: a[DeployedBy], Environment: a[Environment], Image: a[Image], Cause: a[ChangeCause]}
	if r.Cause == "" {
		r.Cause = a[KubeChangeCause]
	}
	if t, err := time.Parse(time.RFC3339, a[DeployedAt]); err == nil {
		r.Time = t
	}
	return r, true
}

// WhoAmI asks the API server who the client authenticates as
// (SelfSubjectReview), which every authenticated user may ask.
func WhoAmI(ctx context.Context, client kubernetes.Interface) (string, error) {
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("cannot learn who you are from the API server: %w", err)
	}
	return review.Status.UserInfo.Username, nil
}

// secretFlags are flags whose values never go into a change cause.
var secretFlags = []string{"token", "password", "username", "client-key", "client-certificate", "notify"}

// urlUserInfo matches the user information of a URL ("scheme://user:pw@"),
// up to the last "@" before the host, as URL parsers read it.
var urlUserInfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@`)

// RedactURLs replaces the user information of every URL in s, which may be
// a password or a token, by "REDACTED".
func RedactURLs(s string) string {
	return urlUserInfo.ReplaceAllString(s, "${1}REDACTED@")
}

// CommandLine renders args as the change cause: the command line with the
// values of credential flags (and webhook URLs, which embed a secret)
// replaced by "REDACTED", and the user information of any other URL too
// (--server, --proxy-url, ...).
func CommandLine(args []string) string {
	out := make([]string, 0, len(args)+1)
	out = append(out, "kubectl envops")
	redactNext := false
	for _, a := range args {
		if redactNext {
			out = append(out, "REDACTED")
			redactNext = false
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "--") && isSecretFlag(name) {
			if hasValue {
				out = append(out, "--"+name+"=REDACTED")
			} else {
				out = append(out, a)
				redactNext = true
			}
			continue
		}
		out = append(out, RedactURLs(a))
	}
	return strings.Join(out, " ")
}

func isSecretFlag(name string) bool {
	for _, s := range secretFlags {
		if name == s {
			return true
		}
	}
	return false
}
