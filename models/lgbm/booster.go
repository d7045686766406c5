package lgbm

import (
	"errors"

	"kairos/models"
)

// Parser is the models.Parser of LightGBM text files: Parse, with its
// refusals as *models.RuleError. Wire it into models.Options.Parse.
func Parser(text []byte) (models.Booster, error) {
	m, err := Parse(text)
	if err != nil {
		if re := (*RuleError)(nil); errors.As(err, &re) {
			return nil, &models.RuleError{Rule: re.Rule, Msg: re.Msg}
		}
		return nil, err
	}
	return booster{m}, nil
}

var _ models.Parser = Parser

// booster adapts a Model to models.Booster.
type booster struct{ *Model }

// Info implements models.Booster.
func (b booster) Info() models.Header {
	h := b.Header()
	return models.Header{
		Version: h.Version, NumClass: h.NumClass, MaxFeatureIdx: h.MaxFeatureIdx, FeatureNames: h.FeatureNames,
		Objective: h.Objective, ObjectiveName: h.ObjectiveName,
		PandasCategorical: h.PandasCategorical, CategoricalFeatures: h.CategoricalFeatures,
	}
}
