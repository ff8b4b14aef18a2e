package status

import (
	"net/url"
	"regexp"
	"strings"
)

const console = "https://console.cloud.google.com/"

// ConsoleURL is the Cloud Console page of a location a run record names: a
// gs:// object or prefix, a BigQuery table (PROJECT.DATASET.TABLE, with an
// optional $PARTITION) or a Vertex AI batch prediction job. "" when there is
// none.
func ConsoleURL(loc, project string) string {
	if rest, ok := strings.CutPrefix(loc, "gs://"); ok {
		bucket, object, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return ""
		}
		if object == "" || strings.HasSuffix(object, "/") {
			return console + "storage/browser/" + escapePath(bucket+"/"+object)
		}
		return console + "storage/browser/_details/" + escapePath(bucket+"/"+object)
	}
	if m := vertexJobRE.FindStringSubmatch(loc); m != nil {
		return console + "vertex-ai/locations/" + url.PathEscape(m[2]) + "/batch-predictions/" + url.PathEscape(m[3]) + "?project=" + url.QueryEscape(m[1])
	}
	if m := tableRE.FindStringSubmatch(loc); m != nil {
		p := m[1]
		if p == "" {
			p = project
		}
		if p == "" {
			return ""
		}
		q := url.Values{"project": {p}, "p": {p}, "d": {m[2]}, "t": {m[3]}, "page": {"table"}}
		return console + "bigquery?" + q.Encode()
	}
	return ""
}

var (
	vertexJobRE = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/batchPredictionJobs/([^/]+)$`)
	// tableRE: [PROJECT.]DATASET.TABLE[$PARTITION]; project IDs may hold ':' (domain:project).
	tableRE = regexp.MustCompile(`^(?:([a-z][a-z0-9:.-]*[a-z0-9])\.)?([A-Za-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\$[0-9A-Za-z_]+)?$`)
)

// escapePath escapes each segment of p, keeping the slashes.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
