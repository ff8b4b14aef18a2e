package predict

// SetAfterSave installs the test hook called after each mid-invocation save.
func (s *Step) SetAfterSave(f func(phase string)) { s.afterSave = f }

// PhaseDeploy is the phase saved once the deploy operation is known.
const PhaseDeploy = phaseDeploy

// WriteCleanPart writes a clean part of n valid sample rows.
var WriteCleanPart = writeCleanPart
