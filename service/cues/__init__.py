"""Audio cues for the athlete: the policy (which steps get a cue) and MQTT delivery."""
