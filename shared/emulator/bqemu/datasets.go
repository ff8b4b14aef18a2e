package bqemu

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"

	bq "google.golang.org/api/bigquery/v2"
)

// insertDataset implements datasets.insert.
func (s *Server) insertDataset(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	var in bq.Dataset
	if err := readJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.DatasetReference == nil || len(in.DatasetReference.DatasetId) > 1024 || !datasetIDPattern.MatchString(in.DatasetReference.DatasetId) {
		s.writeError(w, r, errInvalid("Invalid dataset ID %q. Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.", datasetIDOf(in.DatasetReference)))
		return
	}
	if in.DatasetReference.ProjectId != "" && in.DatasetReference.ProjectId != project {
		s.writeError(w, r, errInvalid("Dataset project %s does not match request project %s", in.DatasetReference.ProjectId, project))
		return
	}
	id := in.DatasetReference.DatasetId
	now := s.now()
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if _, ok := s.store.datasets[key(project, id)]; ok {
		s.writeError(w, r, errDuplicate("Dataset %s:%s", project, id))
		return
	}
	ds := &dataset{project: project, id: id, meta: in, modified: now, tables: map[string]*table{}}
	ds.meta.DatasetReference = &bq.DatasetReference{ProjectId: project, DatasetId: id}
	if ds.meta.Location == "" {
		ds.meta.Location = "US"
	}
	ds.meta.CreationTime = millis(now)
	s.store.datasets[key(project, id)] = ds
	writeJSON(w, http.StatusOK, s.datasetResource(ds))
}

func datasetIDOf(ref *bq.DatasetReference) string {
	if ref == nil {
		return ""
	}
	return ref.DatasetId
}

// datasetResource is the wire form of a dataset; s.store.mu must be held.
func (s *Server) datasetResource(ds *dataset) *bq.Dataset {
	out := ds.meta
	out.Kind = "bigquery#dataset"
	out.Id = fmt.Sprintf("%s:%s", ds.project, ds.id)
	out.SelfLink = s.Endpoint() + "projects/" + ds.project + "/datasets/" + ds.id
	out.LastModifiedTime = millis(ds.modified)
	out.Etag = strconv.FormatInt(ds.modified.UnixNano(), 36)
	out.Type = "DEFAULT"
	return &out
}

// getDataset implements datasets.get.
func (s *Server) getDataset(w http.ResponseWriter, r *http.Request) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	ds, err := s.store.datasetLocked(r.PathValue("project"), r.PathValue("dataset"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.datasetResource(ds))
}

// deleteDataset implements datasets.delete, honouring deleteContents.
func (s *Server) deleteDataset(w http.ResponseWriter, r *http.Request) {
	project, id := r.PathValue("project"), r.PathValue("dataset")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	ds, err := s.store.datasetLocked(project, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(ds.tables) > 0 && r.URL.Query().Get("deleteContents") != "true" {
		s.writeError(w, r, newAPIError(http.StatusBadRequest, "resourceInUse", "Dataset %s:%s is still in use", project, id))
		return
	}
	delete(s.store.datasets, key(project, id))
	w.WriteHeader(http.StatusNoContent)
}

// listDatasets implements datasets.list (a single page).
func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := &bq.DatasetList{Kind: "bigquery#datasetList"}
	for _, ds := range s.store.datasets {
		if ds.project != project {
			continue
		}
		out.Datasets = append(out.Datasets, &bq.DatasetListDatasets{
			Kind:             "bigquery#dataset",
			Id:               fmt.Sprintf("%s:%s", ds.project, ds.id),
			DatasetReference: &bq.DatasetReference{ProjectId: ds.project, DatasetId: ds.id},
			Location:         ds.meta.Location,
			Labels:           ds.meta.Labels,
			FriendlyName:     ds.meta.FriendlyName,
		})
	}
	sort.Slice(out.Datasets, func(i, j int) bool { return out.Datasets[i].Id < out.Datasets[j].Id })
	writeJSON(w, http.StatusOK, out)
}
