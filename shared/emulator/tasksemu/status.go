package tasksemu

import (
	"net/http"
	"strings"

	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusError turns a validation error into a gRPC status error.
func statusError(c codes.Code, err error) error {
	return status.Error(c, err.Error())
}

// responseStatus is the Attempt.response_status for an outcome.
func responseStatus(out outcome) *rpcstatus.Status {
	var c codes.Code
	msg := ""
	switch {
	case out.code != 0:
		c = httpCode(out.code)
		msg = http.StatusText(out.code)
	case out.deadline:
		c = codes.DeadlineExceeded
	default:
		c = codes.Unavailable
	}
	if out.err != nil {
		msg = out.err.Error()
	}
	return &rpcstatus.Status{Code: int32(c), Message: msg}
}

func httpCode(code int) codes.Code {
	switch {
	case code >= 200 && code < 300:
		return codes.OK
	case code == http.StatusBadRequest:
		return codes.InvalidArgument
	case code == http.StatusUnauthorized:
		return codes.Unauthenticated
	case code == http.StatusForbidden:
		return codes.PermissionDenied
	case code == http.StatusNotFound:
		return codes.NotFound
	case code == http.StatusConflict:
		return codes.Aborted
	case code == http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case code == 499:
		return codes.Canceled
	case code == http.StatusNotImplemented:
		return codes.Unimplemented
	case code == http.StatusServiceUnavailable:
		return codes.Unavailable
	case code == http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case code >= 400 && code < 500:
		return codes.FailedPrecondition
	case code >= 500:
		return codes.Internal
	default:
		return codes.Unknown
	}
}

// taskID is the last element of a task name.
func taskID(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
