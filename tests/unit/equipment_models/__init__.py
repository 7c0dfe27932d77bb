"""Tests of the battery line's equipment models."""
