package tasksemu

import (
	"errors"
	"fmt"
	"strings"
)

// queueRef is a parsed queue name:
// projects/PROJECT/locations/LOCATION/queues/QUEUE.
type queueRef struct {
	parent string // projects/PROJECT/locations/LOCATION
	id     string
}

func (r queueRef) name() string { return r.parent + "/queues/" + r.id }

var errEmptyName = errors.New("name is empty")

// parseLocation checks projects/PROJECT/locations/LOCATION.
func parseLocation(name string) error {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "locations" {
		return fmt.Errorf("%q is not projects/PROJECT_ID/locations/LOCATION_ID", name)
	}
	if !validChars(parts[1], "-:.") || !validChars(parts[3], "-") {
		return fmt.Errorf("%q has an invalid project or location ID", name)
	}
	return nil
}

// parseQueueName checks projects/PROJECT/locations/LOCATION/queues/QUEUE.
func parseQueueName(name string) (queueRef, error) {
	if name == "" {
		return queueRef{}, errEmptyName
	}
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[4] != "queues" {
		return queueRef{}, fmt.Errorf("%q is not projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID", name)
	}
	parent := strings.Join(parts[:4], "/")
	if err := parseLocation(parent); err != nil {
		return queueRef{}, fmt.Errorf("queue name: %w", err)
	}
	id := parts[5]
	if len(id) > maxQueueIDLen || !validChars(id, "-") {
		return queueRef{}, fmt.Errorf("queue ID %q must be 1-%d of [A-Za-z0-9-]", id, maxQueueIDLen)
	}
	return queueRef{parent: parent, id: id}, nil
}

// parseTaskName splits QUEUE_NAME/tasks/TASK_ID and checks the ID.
func parseTaskName(name string) (queueRef, string, error) {
	if name == "" {
		return queueRef{}, "", errEmptyName
	}
	qname, id, ok := strings.Cut(name, "/tasks/")
	if !ok {
		return queueRef{}, "", fmt.Errorf("%q is not projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID/tasks/TASK_ID", name)
	}
	ref, err := parseQueueName(qname)
	if err != nil {
		return queueRef{}, "", fmt.Errorf("task name: %w", err)
	}
	if err := checkTaskID(id); err != nil {
		return queueRef{}, "", err
	}
	return ref, id, nil
}

func checkTaskID(id string) error {
	if len(id) > maxTaskIDLen || !validChars(id, "-_") {
		return fmt.Errorf("task ID %q must be 1-%d of [A-Za-z0-9_-]", truncate(id, 40), maxTaskIDLen)
	}
	return nil
}

// validChars reports whether s is non-empty and only ASCII letters, digits
// and the extra characters.
func validChars(s, extra string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune(extra, c):
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
