"""`batchkit convert`: batch files and single requests from one line format to another, through an OpenAI
chat body; ids a target cannot take are mapped, and the map is written beside the output."""

from .convert import Conversion, ConvertResult, JobModel, convert_file, convert_request, target_provider

__all__ = ["Conversion", "ConvertResult", "JobModel", "convert_file", "convert_request", "target_provider"]
