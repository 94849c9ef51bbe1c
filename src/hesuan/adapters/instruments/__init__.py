"""Reading qPCR instruments' export files into the lab stage's neutral ``InstrumentRun``
(``hesuan.services.lab_ports``): QuantStudio text exports and Design & Analysis workbooks,
Bio-Rad CFX Maestro Cq results CSVs. ``files`` tells the format and types the results;
``text_exports`` and ``quantstudio_workbook`` read each format's table.
"""

from hesuan.adapters.instruments.files import InstrumentFileReader, detect_format, read_run_file

__all__ = ["InstrumentFileReader", "detect_format", "read_run_file"]
