package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Open loads the model file at path, detecting its format from its
// content:
//
//   - dropcast's own model (JSON with "format": "dropcast-model"), as
//     `dropcast model train` writes it;
//   - an XGBoost model saved as JSON (Booster.save_model("model.json")) or
//     in XGBoost's binary format (any other extension but .ubj);
//   - a LightGBM text model (Booster.save_model("model.txt")).
//
// An XGBoost or LightGBM model needs its sidecar, path + SidecarSuffix (see
// Sidecar); the error when it is missing says what to write in it.
func Open(path string) (Predictor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: open: %w", err)
	}
	trimmed := bytes.TrimSpace(b)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("model: %s is empty", path)
	case trimmed[0] == '{' && json.Valid(trimmed):
		return openJSON(path, b)
	case trimmed[0] == '{':
		return nil, fmt.Errorf("model: %s starts like JSON (or XGBoost's UBJSON) but is not valid JSON; save an XGBoost model as JSON (save_model(\"model.json\")) or in its binary format", path)
	case bytes.HasPrefix(trimmed, []byte("tree\n")) || bytes.HasPrefix(trimmed, []byte("tree\r\n")):
		return openLightGBM(path, b)
	case bytes.HasPrefix(b, xgbBinaryMagic):
		return openXGBoostBinary(path, b)
	}
	p, err := openXGBoostBinary(path, b)
	if err != nil {
		return nil, fmt.Errorf("model: %s: not a model format dropcast reads (dropcast's JSON model, XGBoost JSON or binary, LightGBM text): %w", path, err)
	}
	return p, nil
}

// openJSON tells dropcast's JSON model from XGBoost's by their top-level
// keys.
func openJSON(path string, b []byte) (Predictor, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	switch {
	case top["format"] != nil:
		m, err := parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	case top["learner"] != nil:
		return openXGBoostJSON(path, b)
	case top["tree_info"] != nil:
		return nil, fmt.Errorf("model: %s is a LightGBM JSON dump; save the model as text (Booster.save_model(\"model.txt\")), which dropcast reads", path)
	}
	return nil, fmt.Errorf("model: %s is JSON but neither dropcast's model (\"format\": %q) nor an XGBoost model (\"learner\")", path, FormatName)
}
