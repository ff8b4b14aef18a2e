package tasksemu

import (
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// need is one permission a call needs on one resource (an iamemu resource
// name: a queue, a project or a service account).
type need struct{ permission, resource string }

const svc = "/google.cloud.tasks.v2.CloudTasks/"

// iamRules is what each CloudTasks method needs, by full gRPC method name.
//
// Source: "Cloud Tasks access control", the table "The following table lists
// the permissions that the caller must have to call each method"
// (https://cloud.google.com/tasks/docs/reference-access-control), rows:
//
//	ListQueues | cloudtasks.queues.list on the specified project
//	GetQueue | cloudtasks.queues.get on the specified queue
//	CreateQueue | cloudtasks.queues.create on the specified queue
//	UpdateQueue | cloudtasks.queues.update on the specified queue
//	PurgeQueue | cloudtasks.queues.purge on the specified queue
//	DeleteQueue | cloudtasks.queues.delete on the specified queue
//	PauseQueue | cloudtasks.queues.pause on the specified queue
//	ResumeQueue | cloudtasks.queues.resume on the specified queue
//	GetIamPolicy | cloudtasks.queues.getIamPolicy on the specified queue
//	SetIamPolicy | cloudtasks.queues.setIamPolicy on the specified queue
//	ListTasks | cloudtasks.tasks.list on the specified queue
//	GetTask | cloudtasks.tasks.get on the specified queue
//	CreateTask | cloudtasks.tasks.create on the specified queue
//	DeleteTask | cloudtasks.tasks.delete on the specified queue
//	RunTask | cloudtasks.tasks.run on the specified task
//
// Tasks carry no IAM policy of their own ("Access control can be configured
// at the project level and at the queue level", same page), so RunTask's
// "specified task" is checked on the task's queue.
//
// Two further documented requirements, from the API reference
// (google/cloud/tasks/v2 protos, as published in cloudtaskspb):
//   - OidcToken.service_account_email and OAuthToken.service_account_email:
//     "The service account must be within the same project as the queue. The
//     caller must have iam.serviceAccounts.actAs permission for the service
//     account." CreateTask with such a token also needs
//     iam.serviceAccounts.actAs on projects/P/serviceAccounts/EMAIL, P being
//     the queue's project.
//   - response_view: "Authorization for FULL requires
//     `cloudtasks.tasks.fullView` Google IAM permission on the Task resource."
//     Checked, like RunTask, on the task's queue.
//
// GetIamPolicy and SetIamPolicy have rules but are not emulated (they answer
// Unimplemented once allowed). TestIamPermissions, the CMEK config methods
// and the batch task methods are not emulated either and have no row in the
// table; under enforcement they are refused as Unimplemented.
var iamRules = map[string]func(req any) []need{
	svc + "ListQueues": func(req any) []need {
		return []need{{"cloudtasks.queues.list", projectOf(req.(*cloudtaskspb.ListQueuesRequest).GetParent())}}
	},
	svc + "GetQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.get", req.(*cloudtaskspb.GetQueueRequest).GetName()}}
	},
	svc + "CreateQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.create", req.(*cloudtaskspb.CreateQueueRequest).GetQueue().GetName()}}
	},
	svc + "UpdateQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.update", req.(*cloudtaskspb.UpdateQueueRequest).GetQueue().GetName()}}
	},
	svc + "PurgeQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.purge", req.(*cloudtaskspb.PurgeQueueRequest).GetName()}}
	},
	svc + "DeleteQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.delete", req.(*cloudtaskspb.DeleteQueueRequest).GetName()}}
	},
	svc + "PauseQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.pause", req.(*cloudtaskspb.PauseQueueRequest).GetName()}}
	},
	svc + "ResumeQueue": func(req any) []need {
		return []need{{"cloudtasks.queues.resume", req.(*cloudtaskspb.ResumeQueueRequest).GetName()}}
	},
	svc + "GetIamPolicy": func(req any) []need {
		return []need{{"cloudtasks.queues.getIamPolicy", req.(resourceRequest).GetResource()}}
	},
	svc + "SetIamPolicy": func(req any) []need {
		return []need{{"cloudtasks.queues.setIamPolicy", req.(resourceRequest).GetResource()}}
	},
	svc + "ListTasks": func(req any) []need {
		r := req.(*cloudtaskspb.ListTasksRequest)
		return withFullView([]need{{"cloudtasks.tasks.list", r.GetParent()}}, r.GetResponseView(), r.GetParent())
	},
	svc + "GetTask": func(req any) []need {
		r := req.(*cloudtaskspb.GetTaskRequest)
		q := queueOfTask(r.GetName())
		return withFullView([]need{{"cloudtasks.tasks.get", q}}, r.GetResponseView(), q)
	},
	svc + "CreateTask": func(req any) []need {
		r := req.(*cloudtaskspb.CreateTaskRequest)
		needs := withFullView([]need{{"cloudtasks.tasks.create", r.GetParent()}}, r.GetResponseView(), r.GetParent())
		if sa := tokenServiceAccount(r.GetTask()); sa != "" {
			needs = append(needs, need{"iam.serviceAccounts.actAs", projectOf(r.GetParent()) + "/serviceAccounts/" + sa})
		}
		return needs
	},
	svc + "DeleteTask": func(req any) []need {
		return []need{{"cloudtasks.tasks.delete", queueOfTask(req.(*cloudtaskspb.DeleteTaskRequest).GetName())}}
	},
	svc + "RunTask": func(req any) []need {
		r := req.(*cloudtaskspb.RunTaskRequest)
		q := queueOfTask(r.GetName())
		return withFullView([]need{{"cloudtasks.tasks.run", q}}, r.GetResponseView(), q)
	},
}

// resourceRequest is google.iam.v1's GetIamPolicyRequest and
// SetIamPolicyRequest.
type resourceRequest interface{ GetResource() string }

func withFullView(needs []need, view cloudtaskspb.Task_View, queue string) []need {
	if view == cloudtaskspb.Task_FULL {
		needs = append(needs, need{"cloudtasks.tasks.fullView", queue})
	}
	return needs
}

// tokenServiceAccount is the service account an HTTP task's OIDC or OAuth
// token is minted for, or "".
func tokenServiceAccount(t *cloudtaskspb.Task) string {
	hr := t.GetHttpRequest()
	if o := hr.GetOidcToken(); o != nil {
		return o.GetServiceAccountEmail()
	}
	return hr.GetOauthToken().GetServiceAccountEmail()
}

// projectOf is projects/P of any name projects/P/...; other names are
// returned unchanged.
func projectOf(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 || parts[0] != "projects" {
		return name
	}
	return parts[0] + "/" + parts[1]
}

// queueOfTask is the queue name of a task name QUEUE/tasks/ID.
func queueOfTask(name string) string {
	q, _, _ := strings.Cut(name, "/tasks/")
	return q
}

// authorize checks every call against Options.Authorizer before serving it.
func (s *Server) authorize() grpc.UnaryServerInterceptor {
	return iamemu.UnaryInterceptor("tasksemu", func() iamemu.Authorizer { return s.opts.Authorizer },
		func(method string, req any) ([]iamemu.Need, bool) {
			rule, ok := iamRules[method]
			if !ok {
				return nil, false
			}
			var out []iamemu.Need
			for _, n := range rule(req) {
				out = append(out, iamemu.Need{Permission: n.permission, Resource: n.resource})
			}
			return out, true
		})
}
