"""Quality evaluations of the completion engine (HumanEval infilling rebuilt offline)."""
