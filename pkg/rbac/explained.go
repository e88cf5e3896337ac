package rbac

// ExplainedError is a refusal by the API server whose message already says
// which role grants the access; it is shown as it is, not reworded.
type ExplainedError struct{ Err error }

func (e *ExplainedError) Error() string { return e.Err.Error() }
func (e *ExplainedError) Unwrap() error { return e.Err }
