"""Operations on running projections: status, verify, rebuild, parked messages and replay."""
