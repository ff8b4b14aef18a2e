package taskq

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
)

// Waiting finds a task while the queue holds it, and not once it ran (nor
// one never created).
func TestWaitingFollowsTheQueue(t *testing.T) {
	srv, err := tasksemu.Start(tasksemu.Options{Faults: tasksemu.Faults{Backlog: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := cloudtasks.NewClient(t.Context(), option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if _, err := client.CreateQueue(t.Context(), &cloudtaskspb.CreateQueueRequest{
		Parent: "projects/p/locations/l", Queue: &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q"},
	}); err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	q := New(client, Config{Queue: "projects/p/locations/l/queues/q", BaseURL: target.URL})
	tk := Task{RunID: "purchases-x-0123456789", Epoch: 1, Step: "load", Segment: 0}
	if err := q.Enqueue(t.Context(), tk, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		task Task
		want bool
	}{{tk, true}, {Task{RunID: tk.RunID, Epoch: 1, Step: "load", Segment: 1}, false}} {
		if got, err := q.Waiting(t.Context(), c.task); err != nil || got != c.want {
			t.Fatalf("Waiting(%s) = %v, %v; want %v", c.task.Name(), got, err, c.want)
		}
	}
	srv.SetFaults(tasksemu.Faults{}) // the backlog clears: the task runs and leaves the queue
	if err := srv.WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Waiting(t.Context(), tk); err != nil || got {
		t.Fatalf("Waiting after it ran = %v, %v; want false", got, err)
	}
}
