package tasksemu

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxURLLen = 2083

// prepareTask validates a CreateTask request and returns the task to store:
// a copy with output-only fields reset and defaults applied. The name is
// left empty when the caller did not give one.
func prepareTask(parent queueRef, in *cloudtaskspb.Task, now time.Time) (*cloudtaskspb.Task, error) {
	if in == nil {
		return nil, statusError(codes.InvalidArgument, errors.New("task is required"))
	}
	if in.GetAppEngineHttpRequest() != nil {
		return nil, statusError(codes.Unimplemented, errors.New("App Engine tasks are not supported by tasksemu"))
	}
	if n := proto.Size(in); n > maxTaskBytes {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("task is %d bytes; the maximum task size is 100KB", n))
	}
	t := proto.Clone(in).(*cloudtaskspb.Task)
	if t.Name != "" {
		ref, _, err := parseTaskName(t.Name)
		if err != nil {
			return nil, statusError(codes.InvalidArgument, fmt.Errorf("task.name: %w", err))
		}
		if ref != parent {
			return nil, statusError(codes.InvalidArgument, fmt.Errorf("task %s is not in queue %s", t.Name, parent.name()))
		}
	}
	if err := checkHTTPRequest(t.GetHttpRequest()); err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("task.http_request: %w", err))
	}
	if err := checkSchedule(t, now); err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("task.schedule_time: %w", err))
	}
	if err := checkDeadline(t); err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("task.dispatch_deadline: %w", err))
	}
	if hr := t.GetHttpRequest(); hr.GetHttpMethod() == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		hr.HttpMethod = cloudtaskspb.HttpMethod_POST
	}
	t.CreateTime = timestamppb.New(now)
	t.DispatchCount, t.ResponseCount = 0, 0
	t.FirstAttempt, t.LastAttempt = nil, nil
	t.View = cloudtaskspb.Task_VIEW_UNSPECIFIED
	return t, nil
}

func checkHTTPRequest(hr *cloudtaskspb.HttpRequest) error {
	if hr == nil {
		return errors.New("an HTTP request is required")
	}
	if len(hr.GetUrl()) > maxURLLen {
		return fmt.Errorf("url is longer than %d characters", maxURLLen)
	}
	u, err := url.Parse(hr.GetUrl())
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q must be an absolute http or https URL", hr.GetUrl())
	}
	switch hr.GetHttpMethod() {
	case cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED, cloudtaskspb.HttpMethod_POST,
		cloudtaskspb.HttpMethod_PUT, cloudtaskspb.HttpMethod_PATCH:
	default:
		if len(hr.GetBody()) > 0 {
			return fmt.Errorf("a body is not allowed with %s", hr.GetHttpMethod())
		}
	}
	if o := hr.GetOidcToken(); o != nil && o.GetServiceAccountEmail() == "" {
		return errors.New("oidc_token.service_account_email is required")
	}
	if o := hr.GetOauthToken(); o != nil && o.GetServiceAccountEmail() == "" {
		return errors.New("oauth_token.service_account_email is required")
	}
	return nil
}

// checkSchedule sets an unset or past schedule_time to now and rejects
// times more than 30 days ahead.
func checkSchedule(t *cloudtaskspb.Task, now time.Time) error {
	if t.ScheduleTime != nil {
		if err := t.ScheduleTime.CheckValid(); err != nil {
			return fmt.Errorf("invalid timestamp: %w", err)
		}
	}
	if t.ScheduleTime == nil || t.ScheduleTime.AsTime().Before(now) {
		t.ScheduleTime = timestamppb.New(now.Truncate(time.Microsecond))
		return nil
	}
	if t.ScheduleTime.AsTime().After(now.Add(maxScheduleAhead)) {
		return fmt.Errorf("%s is more than %s ahead", t.ScheduleTime.AsTime().Format(time.RFC3339), maxScheduleAhead)
	}
	return nil
}

// checkDeadline accepts 0 (the default) or [15s, 30m].
func checkDeadline(t *cloudtaskspb.Task) error {
	d := t.GetDispatchDeadline()
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return fmt.Errorf("invalid duration: %w", err)
	}
	v := d.AsDuration()
	if v != 0 && (v < minDispatchDeadline || v > maxDispatchDeadline) {
		return fmt.Errorf("%s is outside [%s, %s]", v, minDispatchDeadline, maxDispatchDeadline)
	}
	return nil
}

// viewOf returns the copy of a stored task a caller sees. BASIC (the
// default) omits the request body.
func viewOf(t *cloudtaskspb.Task, v cloudtaskspb.Task_View) *cloudtaskspb.Task {
	out := proto.Clone(t).(*cloudtaskspb.Task)
	if v != cloudtaskspb.Task_FULL {
		v = cloudtaskspb.Task_BASIC
		if hr := out.GetHttpRequest(); hr != nil {
			hr.Body = nil
		}
	}
	out.View = v
	return out
}
