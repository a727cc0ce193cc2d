"""Emotional talking heads: face perception, the action-unit rig, lip sync and the warp renderer."""
