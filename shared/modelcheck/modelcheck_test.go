package modelcheck

import (
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
)

func pipeline(t *testing.T, yaml string) *spec.Pipeline {
	t.Helper()
	set, err := spec.ParseSet(map[string][]byte{"p.yaml": []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	return set.Pipelines[0]
}

func samplePipeline(t *testing.T) *spec.Pipeline { return pipeline(t, string(sample.Spec)) }

func TestSampleSpecFitsTheDemoModel(t *testing.T) {
	if problems := Check(samplePipeline(t), model.Demo()); problems != nil {
		t.Fatalf("problems %q, want none", problems)
	}
}

func TestMissingColumnsAndKinds(t *testing.T) {
	// The sample spec without quantity and store_id, and price as STRING.
	yaml := strings.NewReplacer(
		"  - name: quantity\n    type: INT64\n    required: true\n    min: \"1\"\n", "",
		"  - name: store_id\n    type: INT64\n    required: true\n    min: \"1\"\n", "",
		"  - name: price\n    type: NUMERIC\n    required: true\n    min: \"0\"\n", "  - name: price\n    type: STRING\n",
		"clustering: [store_id, category]", "clustering: [category]").Replace(string(sample.Spec))
	got := Check(pipeline(t, yaml), model.Demo())
	if len(got) != 2 {
		t.Fatalf("problems %q, want the missing columns and price's kind", got)
	}
	if !strings.Contains(got[0], "lack column(s) store_id, quantity ") {
		t.Errorf("problem %q does not name store_id and quantity", got[0])
	}
	if !strings.Contains(got[1], "column price is STRING") {
		t.Errorf("problem %q does not name price as STRING", got[1])
	}
}

func TestTargetProblems(t *testing.T) {
	yaml := strings.Replace(string(sample.Spec), "predict:\n", "predict:\n  target: price\n", 1)
	got := Check(pipeline(t, yaml), model.Demo())
	if len(got) != 1 || !strings.Contains(got[0], `predict.target is "price" but the model predicts "returned"`) {
		t.Fatalf("problems %q", got)
	}
	own := model.Demo()
	own.TargetColumn = "price"
	if got := Check(samplePipeline(t), own); len(got) != 1 || !strings.Contains(got[0], `reads its own target "price"`) {
		t.Fatalf("problems %q", got)
	}
}

func TestServed(t *testing.T) {
	p := samplePipeline(t)
	served := map[string]model.Predictor{sample.ModelID: model.Demo()}
	if id, m, err := Served(p, served, sample.Project, "123", "us-central1"); err != nil || id != sample.ModelID || m == nil {
		t.Fatalf("Served = %q %v %v", id, m, err)
	}
	p.Predict.Model = "projects/123/locations/us-central1/models/" + sample.ModelID
	if _, _, err := Served(p, served, sample.Project, "123", "us-central1"); err != nil {
		t.Fatalf("by project number: %v", err)
	}
	p.Predict.Model = "projects/dropcast-local/locations/us-central1/models/iris"
	_, _, err := Served(p, served, sample.Project, "123", "us-central1")
	if err == nil || !strings.Contains(err.Error(), `model "iris" is not served`) || !strings.Contains(err.Error(), "dropcast local --model iris=FILE") ||
		!strings.Contains(err.Error(), "dropcast model train --target COLUMN --out FILE") {
		t.Fatalf("unserved model: %v", err)
	}
	p.Predict.Model = "projects/elsewhere/locations/us-central1/models/iris"
	if _, _, err := Served(p, served, sample.Project, "123", "us-central1"); err == nil || !strings.Contains(err.Error(), "not in the local project") {
		t.Fatalf("other project: %v", err)
	}
}
