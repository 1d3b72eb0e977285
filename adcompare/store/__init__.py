"""The results folder: files written whole (`files`), the folder's lock, pages and machine names
(`folder`), asv's results (`asv`), the figures file (`figures_file`), the environment record of
every run (`environment`), and two runs compared (`compare`)."""
