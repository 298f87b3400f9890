pfctl -t threatstop -T replace -f DIR/threatstop.pf
