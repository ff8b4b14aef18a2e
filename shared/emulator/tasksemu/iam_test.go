package tasksemu

import (
	"context"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/emulator/iamemu/iamemutest"
	"github.com/dropcast/dropcast/shared/taskq"
)

// checkCall is one Authorizer.Check the emulator made; recordingAuthorizer
// records them.
type (
	checkCall           = iamemutest.Check
	recordingAuthorizer = iamemutest.Recorder
)

func clientAs(t *testing.T, ctx context.Context, addr, identity string) *cloudtasks.Client {
	t.Helper()
	c, err := cloudtasks.NewClient(ctx,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(iamemu.GRPCDialOption(identity)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const (
	admin   = "admin@test-project.iam.gserviceaccount.com"
	ingest  = "ingest@test-project.iam.gserviceaccount.com"
	invoker = "invoker@test-project.iam.gserviceaccount.com"
)

// TestIAMEnqueueAsProduction runs the one call production makes
// (taskq.Queue.Enqueue: CreateTask with an OIDC token) under enforcement.
func TestIAMEnqueueAsProduction(t *testing.T) {
	az := &recordingAuthorizer{}
	srv, err := Start(Options{Authorizer: az})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	queue := testLocation + "/queues/work"
	adminC := clientAs(t, ctx, srv.Addr(), admin)
	if _, err := adminC.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation, Queue: &cloudtaskspb.Queue{Name: queue}}); err != nil {
		t.Fatalf("CreateQueue as admin: %v", err)
	}
	if _, err := adminC.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: queue}); err != nil {
		t.Fatalf("PauseQueue: %v", err)
	}
	if got, want := az.Take(), []checkCall{
		{Identity: admin, Permission: "cloudtasks.queues.create", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.queues.pause", Resource: queue},
	}; !equalCalls(got, want) {
		t.Fatalf("checks = %v, want %v", got, want)
	}

	q := taskq.New(clientAs(t, ctx, srv.Addr(), ingest), taskq.Config{Queue: queue, BaseURL: "http://127.0.0.1:1", Invoker: invoker})
	if err := q.Enqueue(ctx, taskq.Task{RunID: "r1", Epoch: 1, Step: "load"}, time.Time{}); err != nil {
		t.Fatalf("Enqueue allowed: %v", err)
	}
	if got, want := az.Take(), []checkCall{
		{Identity: ingest, Permission: "cloudtasks.tasks.create", Resource: queue},
		{Identity: ingest, Permission: "iam.serviceAccounts.actAs", Resource: "projects/test-project/serviceAccounts/" + invoker},
	}; !equalCalls(got, want) {
		t.Fatalf("checks = %v, want %v", got, want)
	}
	if n := srv.Pending(queue); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}

	for _, perm := range []string{"cloudtasks.tasks.create", "iam.serviceAccounts.actAs"} {
		t.Run(perm, func(t *testing.T) {
			az.Refuse(perm)
			defer az.Refuse()
			_, err := clientAs(t, ctx, srv.Addr(), ingest).CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: oidcTask(queue + "/tasks/denied")})
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("CreateTask err = %v, want PermissionDenied", err)
			}
			if !strings.Contains(status.Convert(err).Message(), perm) {
				t.Errorf("message %q does not name %s", status.Convert(err).Message(), perm)
			}
			if n := srv.Pending(queue); n != 1 {
				t.Errorf("pending = %d after a refused CreateTask, want 1", n)
			}
		})
	}
	az.Take()

	// The same call by another identity is still allowed: refusal is per identity.
	az.RefuseFor([]string{"other@test-project.iam.gserviceaccount.com"}, "cloudtasks.tasks.create")
	if _, err := clientAs(t, ctx, srv.Addr(), ingest).CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: oidcTask(queue + "/tasks/ok2")}); err != nil {
		t.Fatalf("CreateTask by a granted identity: %v", err)
	}
}

func oidcTask(name string) *cloudtaskspb.Task {
	task := httpTask("http://127.0.0.1:1/x", name, nil)
	task.GetHttpRequest().AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: invoker}}
	return task
}

// TestIAMMethodTable checks the documented mapping for the other methods.
func TestIAMMethodTable(t *testing.T) {
	az := &recordingAuthorizer{}
	srv, err := Start(Options{Authorizer: az})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := clientAs(t, ctx, srv.Addr(), admin)
	queue := testLocation + "/queues/table"
	task := queue + "/tasks/t1"
	if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation, Queue: &cloudtaskspb.Queue{Name: queue, State: cloudtaskspb.Queue_PAUSED}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: queue}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: httpTask("http://127.0.0.1:1/x", task, nil), ResponseView: cloudtaskspb.Task_FULL}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: task}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queue}).Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: testLocation}).Next(); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: task}); err != nil {
		t.Fatal(err)
	}
	want := []checkCall{
		{Identity: admin, Permission: "cloudtasks.queues.create", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.queues.pause", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.tasks.create", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.tasks.fullView", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.queues.get", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.tasks.get", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.tasks.list", Resource: queue},
		{Identity: admin, Permission: "cloudtasks.queues.list", Resource: "projects/test-project"},
		{Identity: admin, Permission: "cloudtasks.tasks.delete", Resource: queue},
	}
	if got := az.Take(); !equalCalls(got, want) {
		t.Fatalf("checks =\n%v\nwant\n%v", got, want)
	}

	// A refused read is refused before the emulator looks: a queue that
	// does not exist answers PERMISSION_DENIED, not NOT_FOUND.
	az.Refuse("cloudtasks.queues.get")
	_, err = c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: testLocation + "/queues/missing"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetQueue err = %v, want PermissionDenied", err)
	}
}

// TestIAMEveryMethodHasARule fails if a method the emulator implements has
// no rule: under enforcement such a method would answer Unimplemented.
func TestIAMEveryMethodHasARule(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, info := range srv.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if _, ok := iamRules[full]; ok {
				continue
			}
			// Without a rule the method must be one the emulator does not
			// implement: called (without enforcement) it answers Unimplemented.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			err := conn.Invoke(ctx, full, &emptypb.Empty{}, &emptypb.Empty{})
			cancel()
			if status.Code(err) != codes.Unimplemented {
				t.Errorf("no IAM rule for %s (it answers %v)", full, status.Code(err))
			}
		}
	}
}

func equalCalls(a, b []checkCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
