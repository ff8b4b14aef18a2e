package bqemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	bq "google.golang.org/api/bigquery/v2"
)

// apiError is an error answered in BigQuery's JSON error format. The same
// values become a job's status.errorResult and status.errors entries.
type apiError struct {
	code     int
	reason   string
	location string
	message  string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.code, e.reason, e.message) }

// proto is the job-status form of the error.
func (e *apiError) proto() *bq.ErrorProto {
	return &bq.ErrorProto{Reason: e.reason, Location: e.location, Message: e.message}
}

func newAPIError(code int, reason, format string, args ...any) *apiError {
	return &apiError{code: code, reason: reason, message: fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "invalid", format, args...)
}

func errNotFound(format string, args ...any) *apiError {
	return newAPIError(http.StatusNotFound, "notFound", "Not found: "+format, args...)
}

func errDuplicate(format string, args ...any) *apiError {
	return newAPIError(http.StatusConflict, "duplicate", "Already Exists: "+format, args...)
}

func errInvalidQuery(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "invalidQuery", format, args...)
}

func errUnsupported(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "invalid", "Unsupported by the emulator: "+format, args...)
}

func errBackend() *apiError {
	return newAPIError(http.StatusServiceUnavailable, "backendError", "Error encountered during execution. Retrying may solve the problem.")
}

func errPrecondition(format string, args ...any) *apiError {
	return newAPIError(http.StatusPreconditionFailed, "conditionNotMet", format, args...)
}

// statusText is the google.rpc code name BigQuery puts in error.status.
func statusText(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	default:
		return "INTERNAL"
	}
}

type errorItem struct {
	Message  string `json:"message"`
	Domain   string `json:"domain"`
	Reason   string `json:"reason"`
	Location string `json:"location,omitempty"`
}

type errorBody struct {
	Error struct {
		Code    int         `json:"code"`
		Message string      `json:"message"`
		Errors  []errorItem `json:"errors"`
		Status  string      `json:"status"`
	} `json:"error"`
}

// writeError answers err in BigQuery's error format; errors that are not
// apiErrors become 500 internalError.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = newAPIError(http.StatusInternalServerError, "internalError", "%s", err.Error())
	}
	var body errorBody
	body.Error.Code = ae.code
	body.Error.Message = ae.message
	body.Error.Status = statusText(ae.code)
	body.Error.Errors = []errorItem{{Message: ae.message, Domain: "global", Reason: ae.reason, Location: ae.location}}
	s.log.Info("bqemu error", "method", r.Method, "path", r.URL.Path, "code", ae.code, "reason", ae.reason, "message", ae.message)
	writeJSON(w, ae.code, body)
}

// writeJSON answers v as JSON with the given status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body into v.
func readJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errInvalid("Invalid JSON payload received: %v", err)
	}
	return nil
}
