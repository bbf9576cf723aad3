"""ControlNet: preprocessors that turn a picture into a control map, and the units a job
carries (a ControlNet model, its control picture, weight and step range)."""
