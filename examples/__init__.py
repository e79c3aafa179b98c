"""The example traces (YAML files here), installed as package data so that drafts and docs
find them in an installed mmsem too."""
