namespace c.cast;
entity Measures { key ID : Integer; value : Decimal(10,3); unit : String(5); note : String(200); takenAt : Timestamp; }
service S {
  entity Formatted as select from Measures {
    ID,
    takenAt,
    cast(value as Integer) as rounded : Integer,
    cast(ID as String(10)) as idText : String(10),
    case when value > 100 then 'high' when value > 10 then 'mid' else 'low' end as level : String(4),
    upper(unit) as unitUpper : String(5),
    coalesce(note, '-') as noteOrDash : String(200)
  };
}
