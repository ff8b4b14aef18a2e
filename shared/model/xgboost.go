package model

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dmitryikh/leaves"
)

// xgbObjective is what an XGBoost objective means for prediction: the task,
// the link from margin to prediction, and how base_score (stored as the
// user gave it: a probability for binary:logistic, a value for a
// regression) becomes the margin the trees' sums start from — the
// objective's ProbToMargin in XGBoost's source (the logit for
// binary:logistic and reg:logistic, the log for count:poisson, reg:gamma and
// reg:tweedie, the value itself for the squared-error family; a softmax adds
// the same base to every class, which it cancels). The links are the
// documented outputs of https://xgboost.readthedocs.io/en/stable/parameter.html#learning-task-parameters:
// "binary:logistic: logistic regression for binary classification, output
// probability"; "multi:softprob: same as softmax, but output a vector of
// ndata * nclass, which can be further reshaped to ndata * nclass matrix.
// The result contains predicted probability of each data point belonging
// to each class"; "count:poisson: Poisson regression for count data,
// output mean of Poisson distribution". The test models
// (testdata/xgboost) check binary:logistic, multi:softprob and
// reg:squarederror against XGBoost 1.7.4's own predictions.
type xgbObjective struct {
	task         Task
	link         link
	probToMargin func(float64) float64
}

func xgboostObjective(name string) (xgbObjective, error) {
	identity := func(v float64) float64 { return v }
	logit := func(v float64) float64 { return math.Log(v / (1 - v)) }
	switch name {
	case "binary:logistic":
		return xgbObjective{Classification, linkSigmoid, logit}, nil
	case "multi:softprob", "multi:softmax":
		return xgbObjective{Classification, linkSoftmax, identity}, nil
	case "reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror", "reg:squaredlogerror":
		return xgbObjective{Regression, linkIdentity, identity}, nil
	case "reg:logistic":
		return xgbObjective{Regression, linkSigmoidValue, logit}, nil
	case "count:poisson", "reg:gamma", "reg:tweedie":
		return xgbObjective{Regression, linkExp, math.Log}, nil
	}
	return xgbObjective{}, fmt.Errorf("XGBoost objective %q is not supported (dropcast serves binary:logistic, multi:softprob, multi:softmax, reg:squarederror, reg:absoluteerror, reg:pseudohubererror, reg:logistic, count:poisson, reg:gamma, reg:tweedie)", name)
}

// xgbJSON is the part of XGBoost's JSON model format
// (https://xgboost.readthedocs.io/en/release_1.7.0/tutorials/saving_model.html,
// schema doc/model.schema) that prediction needs.
type xgbJSON struct {
	Version []int `json:"version"`
	Learner struct {
		FeatureNames []string `json:"feature_names"`
		FeatureTypes []string `json:"feature_types"`
		Param        struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		Booster struct {
			Name  string `json:"name"`
			Model struct {
				Trees    []xgbJSONTree `json:"trees"`
				TreeInfo []int         `json:"tree_info"`
			} `json:"model"`
		} `json:"gradient_booster"`
	} `json:"learner"`
}

type xgbJSONTree struct {
	Left        []int32         `json:"left_children"`
	Right       []int32         `json:"right_children"`
	SplitIndex  []int32         `json:"split_indices"`
	Conditions  []float32       `json:"split_conditions"`
	DefaultLeft json.RawMessage `json:"default_left"`
	SplitType   []int           `json:"split_type"`
}

// xgbTree is one regression tree: node i splits on feature split[i] at
// cond[i] (going left when the value is below it, or when it is missing
// and defaultLeft[i]), or is a leaf (left[i] == -1) worth cond[i].
type xgbTree struct {
	left, right, split []int32
	cond               []float32
	defaultLeft        []bool
	group              int
}

// value is the tree's leaf value for x. XGBoost compares float32 values:
// "if (fvalue < split_value) left else right", missing values take the
// default child (include/xgboost/tree_model.h, RegTree::GetNext).
func (t *xgbTree) value(x []float64) float32 {
	n := int32(0)
	for t.left[n] != -1 {
		v := x[t.split[n]]
		switch {
		case math.IsNaN(v):
			if t.defaultLeft[n] {
				n = t.left[n]
			} else {
				n = t.right[n]
			}
		case float32(v) < t.cond[n]:
			n = t.left[n]
		default:
			n = t.right[n]
		}
	}
	return t.cond[n]
}

// openXGBoostJSON reads an XGBoost JSON model and evaluates its trees in
// Go. (leaves reads XGBoost's binary format and LightGBM's, not XGBoost's
// JSON; the trees here are evaluated as XGBoost's CPU predictor does,
// summing float32 leaf values onto the base margin, in tree order.)
func openXGBoostJSON(path string, b []byte) (Predictor, error) {
	var m xgbJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model: %s: XGBoost JSON: %w", path, err)
	}
	l := m.Learner
	if l.Booster.Name != "gbtree" {
		return nil, fmt.Errorf("model: %s: XGBoost booster %q is not supported (dropcast serves gbtree)", path, l.Booster.Name)
	}
	obj, err := xgboostObjective(l.Objective.Name)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	nFeature, err := strconv.Atoi(l.Param.NumFeature)
	if err != nil || nFeature <= 0 {
		return nil, fmt.Errorf("model: %s: XGBoost JSON: num_feature %q is not a positive number", path, l.Param.NumFeature)
	}
	numClass, _ := strconv.Atoi(l.Param.NumClass)
	base, err := strconv.ParseFloat(strings.Trim(l.Param.BaseScore, "[]"), 64)
	if err != nil {
		return nil, fmt.Errorf("model: %s: XGBoost JSON: base_score %q: %w", path, l.Param.BaseScore, err)
	}
	groups := 1
	if obj.link == linkSoftmax {
		groups = numClass
		if groups < 2 {
			return nil, fmt.Errorf("model: %s: XGBoost JSON: %s with num_class %d", path, l.Objective.Name, numClass)
		}
	}
	trees := l.Booster.Model.Trees
	if len(trees) == 0 || len(l.Booster.Model.TreeInfo) != len(trees) {
		return nil, fmt.Errorf("model: %s: XGBoost JSON: %d trees, %d tree_info entries", path, len(trees), len(l.Booster.Model.TreeInfo))
	}
	parsed := make([]xgbTree, len(trees))
	for i, jt := range trees {
		t, err := jt.parse(l.Booster.Model.TreeInfo[i], groups, nFeature)
		if err != nil {
			return nil, fmt.Errorf("model: %s: XGBoost JSON: tree %d: %w", path, i, err)
		}
		parsed[i] = t
	}
	var names []string
	if len(l.FeatureNames) == nFeature {
		names = l.FeatureNames
	}
	facts := fileFacts{format: "XGBoost JSON", task: obj.task, features: names, nFeature: nFeature}
	if obj.link == linkSoftmax {
		facts.classes = groups
	} else if obj.link == linkSigmoid {
		facts.classes = 2
	}
	sc, err := resolve(path, facts)
	if err != nil {
		return nil, err
	}
	baseMargin := float32(obj.probToMargin(base))
	margins := func(x []float64) []float64 {
		sums := make([]float32, groups)
		for k := range sums {
			sums[k] = baseMargin
		}
		for i := range parsed {
			sums[parsed[i].group] += parsed[i].value(x)
		}
		z := make([]float64, groups)
		for k, s := range sums {
			z[k] = float64(s)
		}
		return z
	}
	t := newTreeModel("XGBoost JSON", sc, obj.link, margins)
	t.input = func(v float64) float64 { return float64(float32(v)) }
	return t, nil
}

func (jt xgbJSONTree) parse(group, groups, nFeature int) (xgbTree, error) {
	n := len(jt.Left)
	if n == 0 || len(jt.Right) != n || len(jt.SplitIndex) != n || len(jt.Conditions) != n {
		return xgbTree{}, fmt.Errorf("node arrays of different lengths")
	}
	if group < 0 || group >= groups {
		return xgbTree{}, fmt.Errorf("tree_info %d outside the %d output groups", group, groups)
	}
	for _, st := range jt.SplitType {
		if st != 0 {
			return xgbTree{}, fmt.Errorf("categorical splits are not supported (encode categories as numbers, or list them under categories in the sidecar)")
		}
	}
	defaultLeft := make([]bool, n)
	var ints []int
	if err := json.Unmarshal(jt.DefaultLeft, &ints); err == nil && len(ints) == n {
		for i, v := range ints {
			defaultLeft[i] = v != 0
		}
	} else if err := json.Unmarshal(jt.DefaultLeft, &defaultLeft); err != nil || len(defaultLeft) != n {
		return xgbTree{}, fmt.Errorf("default_left is not %d booleans", n)
	}
	for i := range n {
		if jt.Left[i] == -1 {
			continue
		}
		if jt.Left[i] <= int32(i) || jt.Right[i] <= int32(i) || int(jt.Left[i]) >= n || int(jt.Right[i]) >= n {
			return xgbTree{}, fmt.Errorf("node %d: children %d, %d out of order", i, jt.Left[i], jt.Right[i])
		}
		if jt.SplitIndex[i] < 0 || int(jt.SplitIndex[i]) >= nFeature {
			return xgbTree{}, fmt.Errorf("node %d: feature %d outside the %d features", i, jt.SplitIndex[i], nFeature)
		}
	}
	return xgbTree{left: jt.Left, right: jt.Right, split: jt.SplitIndex, cond: jt.Conditions, defaultLeft: defaultLeft, group: group}, nil
}

// xgbBinaryMagic starts XGBoost's binary model files since 1.0 ("binf"),
// which leaves (written for the format before) does not expect.
var xgbBinaryMagic = []byte("binf")

// xgbBinaryHeader is the start of XGBoost's binary format: the
// LearnerModelParamLegacy struct (src/learner.cc; 136 bytes: base_score,
// num_feature, num_class, contain_extra_attrs, contain_eval_metrics,
// major_version, minor_version, num_target, reserved) and the objective's
// name (a uint64 length and its bytes).
type xgbBinaryHeader struct {
	// size is the header's length in bytes (the param struct and the
	// objective's and booster's names).
	size         int
	baseScore    float32
	numFeature   uint32
	numClass     int32
	majorVersion int32
	objective    string
}

func readXGBoostBinaryHeader(b []byte) (xgbBinaryHeader, error) {
	const paramSize = 136
	if len(b) < paramSize+8 {
		return xgbBinaryHeader{}, fmt.Errorf("too short for an XGBoost binary model")
	}
	le := binary.LittleEndian
	h := xgbBinaryHeader{
		baseScore:    math.Float32frombits(le.Uint32(b[0:])),
		numFeature:   le.Uint32(b[4:]),
		numClass:     int32(le.Uint32(b[8:])),
		majorVersion: int32(le.Uint32(b[20:])),
	}
	n := le.Uint64(b[paramSize:])
	if n > 256 || uint64(len(b)) < paramSize+8+n {
		return xgbBinaryHeader{}, fmt.Errorf("objective name of %d bytes: not an XGBoost binary model", n)
	}
	h.objective = string(b[paramSize+8 : paramSize+8+int(n)])
	off := paramSize + 8 + int(n)
	if len(b) < off+8 {
		return xgbBinaryHeader{}, fmt.Errorf("truncated XGBoost binary model")
	}
	m := le.Uint64(b[off:])
	if m > 256 || uint64(len(b)) < uint64(off)+8+m {
		return xgbBinaryHeader{}, fmt.Errorf("booster name of %d bytes: not an XGBoost binary model", m)
	}
	h.size = off + 8 + int(m)
	return h, nil
}

// openXGBoostBinary reads an XGBoost binary model with leaves, which gives
// the raw margins (loadTransformation false: leaves' own transformation
// knows binary:logistic only); dropcast applies the objective's link.
//
// The base score: leaves adds the stored base_score to the margin as is,
// which is right for files written before XGBoost 1.0, where it was stored
// as a margin; since 1.0 the file stores the base_score the user gave (a
// probability for binary:logistic) and its version (major_version >= 1),
// and XGBoost turns it into a margin when it loads the model
// (ProbToMargin), so dropcast replaces the stored value by its margin.
func openXGBoostBinary(path string, b []byte) (Predictor, error) {
	body := bytes.TrimPrefix(b, xgbBinaryMagic)
	h, err := readXGBoostBinaryHeader(body)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	obj, err := xgboostObjective(h.objective)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	body, err = withOutputGroups(body, h)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	ens, err := leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(body)), false)
	if err != nil {
		return nil, fmt.Errorf("model: %s: XGBoost binary (leaves): %w", path, err)
	}
	groups := ens.NRawOutputGroups()
	facts := fileFacts{format: "XGBoost binary", task: obj.task, nFeature: ens.NFeatures()}
	switch obj.link {
	case linkSoftmax:
		facts.classes = groups
	case linkSigmoid:
		facts.classes = 2
	}
	if obj.link != linkSoftmax && groups != 1 {
		return nil, fmt.Errorf("model: %s: %s with %d output groups", path, h.objective, groups)
	}
	sc, err := resolve(path, facts)
	if err != nil {
		return nil, err
	}
	shift := 0.0
	if h.majorVersion >= 1 {
		shift = float64(float32(obj.probToMargin(float64(h.baseScore)))) - float64(h.baseScore)
	}
	margins := func(x []float64) []float64 {
		z := make([]float64, groups)
		// Predict fails only for a short vector or a bad count, neither
		// of which can happen here.
		_ = ens.Predict(x, 0, z)
		for k := range z {
			z[k] += shift
		}
		return z
	}
	t := newTreeModel("XGBoost binary", sc, obj.link, margins)
	t.input = xgbInputForLeaves
	return t, nil
}

// xgbInputForLeaves adapts a number so that leaves' comparison decides as
// XGBoost's does. XGBoost goes left when float32(value) < split value
// (RegTree::GetNext); leaves compares value <= threshold for XGBoost trees
// too (lgtree.go: "Note: LightGBM uses `<=`, but XGBoost uses `<`"), which
// differs when the value equals the split value. Split values are float32,
// so the float64 just above float32(value) is <= a split value exactly when
// float32(value) is below it.
func xgbInputForLeaves(v float64) float64 {
	return math.Nextafter(float64(float32(v)), math.Inf(1))
}

// withOutputGroups returns the model bytes with the gbtree parameters'
// output group count set, which XGBoost 1.0 and later leave 0: their
// src/gbm/gbtree_model.h keeps the field only for the binary layout,
// "int32_t deprecated_num_output_group; // deprecated. use
// learner_model_param_->num_output_group.", while leaves reads the count
// from it. The count is the learner's num_class (1 for one output). The
// field follows num_trees, num_roots, num_feature, pad_32bit (int32 each)
// and num_pbuffer (int64) at the start of the gbtree parameters, which
// follow the header.
func withOutputGroups(body []byte, h xgbBinaryHeader) ([]byte, error) {
	const offset = 4*4 + 8
	at := h.size + offset
	if len(body) < at+4 {
		return nil, fmt.Errorf("truncated XGBoost binary model")
	}
	if h.majorVersion < 1 || binary.LittleEndian.Uint32(body[at:]) != 0 {
		return body, nil
	}
	out := bytes.Clone(body)
	binary.LittleEndian.PutUint32(out[at:], uint32(max(1, h.numClass)))
	return out, nil
}
