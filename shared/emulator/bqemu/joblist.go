package bqemu

import (
	"slices"
	"strings"
)

// LoadJobIDs lists the IDs of every load job inserted in project, sorted, so
// a test can count the loads a pipeline made (a re-attached insert adds none).
func (s *Server) LoadJobIDs(project string) []string {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	var ids []string
	for k, j := range s.store.jobs {
		if strings.HasPrefix(k, project+"\x00") && j.config.Load != nil {
			ids = append(ids, j.id)
		}
	}
	slices.Sort(ids)
	return ids
}
