package model

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmitryikh/leaves"
)

// lightgbmHeader is the part of a LightGBM text model's header (key=value
// lines up to the first blank line) that dropcast reads itself; leaves
// reads the trees.
type lightgbmHeader struct {
	numClass      int
	maxFeatureIdx int
	objective     string
	featureNames  []string
	// averageOutput marks a random forest (boosting=rf), whose output
	// transform dropcast has not checked against LightGBM.
	averageOutput bool
}

func readLightGBMHeader(b []byte) (lightgbmHeader, error) {
	var h lightgbmHeader
	params := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, "=")
		params[k] = v
	}
	var err error
	if h.numClass, err = strconv.Atoi(params["num_class"]); err != nil {
		return h, fmt.Errorf("LightGBM header: num_class %q", params["num_class"])
	}
	if h.maxFeatureIdx, err = strconv.Atoi(params["max_feature_idx"]); err != nil {
		return h, fmt.Errorf("LightGBM header: max_feature_idx %q", params["max_feature_idx"])
	}
	h.objective = params["objective"]
	_, h.averageOutput = params["average_output"]
	if names := strings.Fields(params["feature_names"]); len(names) == h.maxFeatureIdx+1 {
		h.featureNames = names
	}
	return h, nil
}

// lightgbmObjective maps a LightGBM objective line ("binary sigmoid:1",
// "multiclass num_class:3", "regression", ...) to the task and the output
// transform LightGBM applies to the raw score, its objectives'
// ConvertOutput (src/objective/*.hpp): binary_objective.hpp
// "output[0] = 1.0f / (1.0f + std::exp(-sigmoid_ * input[0]));" with the
// sigmoid parameter the objective line carries (default 1.0, documented at
// https://lightgbm.readthedocs.io/en/latest/Parameters.html#sigmoid);
// multiclass: the softmax of the per-class scores; poisson, gamma, tweedie:
// exp; the other regression objectives: the raw score itself.
func lightgbmObjective(line string) (Task, link, float64, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", 0, 0, fmt.Errorf("LightGBM model has no objective")
	}
	param := func(key string) (float64, bool) {
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, key+":"); ok {
				x, err := strconv.ParseFloat(v, 64)
				return x, err == nil
			}
		}
		return 0, false
	}
	switch fields[0] {
	case "binary":
		k, ok := param("sigmoid")
		if !ok || k <= 0 {
			return "", 0, 0, fmt.Errorf("LightGBM objective %q has no positive sigmoid parameter", line)
		}
		return Classification, linkSigmoid, k, nil
	case "multiclass":
		return Classification, linkSoftmax, 1, nil
	case "regression", "regression_l1", "huber", "fair", "quantile", "mape":
		return Regression, linkIdentity, 1, nil
	case "poisson", "gamma", "tweedie":
		return Regression, linkExp, 1, nil
	}
	return "", 0, 0, fmt.Errorf("LightGBM objective %q is not supported (dropcast serves binary, multiclass, regression, regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie)", line)
}

// openLightGBM reads a LightGBM text model: leaves evaluates the trees (raw
// scores: leaves' own transformation refuses a sigmoid other than 1), and
// dropcast applies the objective's output transform.
func openLightGBM(path string, b []byte) (Predictor, error) {
	h, err := readLightGBMHeader(b)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	if h.averageOutput {
		return nil, fmt.Errorf("model: %s: LightGBM random forest models (average_output) are not supported; train with boosting gbdt", path)
	}
	task, lk, k, err := lightgbmObjective(h.objective)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(b)), false)
	if err != nil {
		return nil, fmt.Errorf("model: %s: LightGBM text (leaves): %w", path, err)
	}
	groups := ens.NRawOutputGroups()
	facts := fileFacts{format: "LightGBM text", task: task, features: h.featureNames, nFeature: h.maxFeatureIdx + 1}
	switch lk {
	case linkSoftmax:
		facts.classes = groups
	case linkSigmoid:
		facts.classes = 2
	}
	if lk != linkSoftmax && groups != 1 {
		return nil, fmt.Errorf("model: %s: objective %q with %d trees per iteration", path, h.objective, groups)
	}
	sc, err := resolve(path, facts)
	if err != nil {
		return nil, err
	}
	margins := func(x []float64) []float64 {
		z := make([]float64, groups)
		// Predict fails only for a short vector, which cannot happen here.
		_ = ens.Predict(x, 0, z)
		return z
	}
	t := newTreeModel("LightGBM text", sc, lk, margins)
	t.sigmoidK = k
	return t, nil
}
