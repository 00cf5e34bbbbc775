-- One database per service: each service owns its data and nobody reads another's tables.
CREATE DATABASE intake;
CREATE DATABASE evaluation;
CREATE DATABASE followup;
CREATE DATABASE notify;
