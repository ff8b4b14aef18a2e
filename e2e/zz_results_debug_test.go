package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/sample"
)

func TestResultsDebugDup(t *testing.T) {
	s := mustStack(t, localstack.Options{TaskFaults: tasksemu.Faults{Seed: 7, DuplicateRate: 1}})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	fmt.Println("run", r.Status, r.Error)
	for i := 0; i < 6; i++ {
		time.Sleep(2 * time.Second)
		it := s.App.Clients.Tasks.ListTasks(context.Background(), &cloudtaskspb.ListTasksRequest{Parent: s.Config.TasksQueue})
		for {
			tk, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			fmt.Println(i, tk.Name, tk.DispatchCount, tk.ResponseCount, tk.ScheduleTime.AsTime().Sub(time.Now()), tk.LastAttempt.GetResponseStatus())
		}
	}
	fmt.Printf("%+v\n", s.Tasks.Stats())
}
